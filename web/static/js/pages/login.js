// Log in: OAuth2 password form -> the API sets the HttpOnly session cookie.
import { api } from "../api.js";
import { $, mainData } from "../util.js";

const form = $("#login-form");
const error = $("#login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const username = $("#username").value.trim();
  const password = $("#password").value;
  if (!username || !password) {
    error.textContent = "Enter your user name and password.";
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api.login(username, password);
    location.assign(mainData().next || "/runs");
  } catch (err) {
    error.textContent = err.message;
    $("#password").setAttribute("aria-invalid", "true");
    $("#password").focus();
  } finally {
    button.disabled = false;
  }
});
