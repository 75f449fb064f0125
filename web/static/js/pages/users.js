// Users (admins): create a user with the API's password rules, list users, (de)activate them.
import { api } from "../api.js";
import { clearErrors, showErrors } from "../form_errors.js";
import { $, badge, flash, fmtDate, h } from "../util.js";

const form = $("#user-form");
const tbody = $("#users-table tbody");
const me = $("[data-testid='user-name']")?.textContent.trim();

async function load() {
  const users = await api.users();
  tbody.replaceChildren(...users.map((user) => h("tr", { "data-user": user.username },
    h("th", { scope: "row" }, user.username), h("td", {}, user.is_admin ? "administrator" : "user"),
    h("td", {}, badge(user.is_active ? "active" : "inactive")), h("td", {}, fmtDate(user.created_at)),
    h("td", {}, user.username === me ? "" : h("button", { type: "button", onclick: () => toggle(user) }, user.is_active ? `Deactivate ${user.username}` : `Activate ${user.username}`)))));
  tbody.dataset.loaded = String(Date.now());
}

async function toggle(user) {
  try {
    await api.updateUser(user.id, { is_active: !user.is_active });
    await load();
  } catch (error) {
    flash(error.message, "error");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const { username, password, is_admin: isAdmin } = form.elements;
  try {
    const user = await api.createUser(username.value.trim(), password.value, isAdmin.checked);
    flash(`Created ${user.username}.`);
    form.reset();
    await load();
  } catch (error) {
    showErrors(form, error);
  }
});

load().catch((error) => flash(error.message, "error"));
