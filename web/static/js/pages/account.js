// Change one's own password through the API (its rules decide; errors show at their field).
import { api } from "../api.js";
import { clearErrors, showErrors } from "../form_errors.js";
import { $, flash } from "../util.js";

const form = $("#password-form");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const { current_password: current, new_password: fresh, repeat, revoke_tokens: revoke } = form.elements;
  if (fresh.value !== repeat.value) {
    showErrors(form, { fieldErrors: () => [{ path: "repeat", msg: "the two new passwords differ" }] });
    return;
  }
  try {
    await api.changePassword(current.value, fresh.value, revoke.checked);
    flash("Password changed. Log in again with the new password.");
    setTimeout(() => location.assign("/login?next=/account"), 1200);
  } catch (error) {
    showErrors(form, error);
  }
});
