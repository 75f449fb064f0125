// Team: members and roles (owners manage them), personal API tokens (secret shown once), projects.
import { api } from "../api.js";
import { $, $$, fmtDate, h, mainData } from "../util.js";

const data = mainData();
const project = data.project ? Number(data.project) : null;
const isOwner = data.role === "owner";
const myId = Number(data.userId);

async function loadMembers() {
  if (!project) return;
  const members = await api.members(project);
  $("#members tbody").replaceChildren(...members.map((m) => {
    const role = isOwner
      ? h("select", { "aria-label": `Role of ${m.username}`, "data-user": m.user_id }, ["viewer", "editor", "owner"].map((r) => h("option", { value: r, selected: r === m.role }, r)))
      : m.role;
    const canRemove = isOwner || m.user_id === myId;
    const remove = canRemove ? h("button", { type: "button", "data-remove": m.user_id }, m.user_id === myId ? "Leave" : `Remove ${m.username}`) : "";
    return h("tr", {}, h("td", {}, m.username), h("td", {}, role), h("td", {}, fmtDate(m.created_at)), h("td", {}, remove));
  }));
}

async function loadTokens() {
  const tokens = await api.tokens();
  $("#tokens tbody").replaceChildren(...tokens.map((t) => h("tr", { class: t.revoked_at ? "revoked" : "" },
    h("td", {}, t.name), h("td", {}, h("code", {}, `${t.prefix}…`)), h("td", {}, t.scopes),
    h("td", {}, fmtDate(t.created_at)), h("td", {}, fmtDate(t.last_used_at)), h("td", {}, t.expires_at ? fmtDate(t.expires_at) : "never"),
    h("td", {}, t.revoked_at ? `revoked ${fmtDate(t.revoked_at)}` : h("button", { type: "button", "data-revoke": t.id }, `Revoke ${t.name}`)))));
}

async function guarded(errorBox, action) {
  errorBox.textContent = "";
  try {
    await action();
  } catch (error) {
    errorBox.textContent = error.message;
  }
}

if (project) {
  $("#members").addEventListener("change", (event) => {
    const select = event.target.closest("select[data-user]");
    if (select) guarded($("#member-error") || $("#flash"), async () => { await api.changeRole(project, Number(select.dataset.user), select.value); await loadMembers(); });
  });
  $("#members").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-remove]");
    if (!button) return;
    const userId = Number(button.dataset.remove);
    guarded($("#member-error") || $("#flash"), async () => {
      await api.removeMember(project, userId);
      if (userId === myId) location.assign("/runs");
      else await loadMembers();
    });
  });
  const addForm = $("#add-member");
  if (addForm) {
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded($("#member-error"), async () => {
        await api.addMember(project, $("#member-name").value.trim(), $("#member-role").value);
        addForm.reset();
        await loadMembers();
      });
    });
  }
}

$("#new-token").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded($("#token-error"), async () => {
    const scopes = $$("input[name=scope]:checked").map((box) => box.value);
    const days = $("#token-days").value ? Number($("#token-days").value) : null;
    const created = await api.createToken($("#token-name").value.trim(), scopes, days);
    $("#token-secret").value = created.token;
    $("#token-secret-box").hidden = false;
    $("#token-secret").focus();
    $("#token-secret").select();
    $("#new-token").reset();
    await loadTokens();
  });
});
$("#copy-token").addEventListener("click", async () => {
  const input = $("#token-secret");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    document.execCommand("copy"); // clipboard API needs a secure context; plain HTTP falls back
  }
  $("#copy-token").textContent = "Copied";
});
$("#dismiss-token").addEventListener("click", () => {
  // the secret is never shown again: drop it from the page
  $("#token-secret").value = "";
  $("#token-secret-box").hidden = true;
  $("#copy-token").textContent = "Copy";
});
$("#tokens").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-revoke]");
  if (button) guarded($("#token-error"), async () => { await api.revokeToken(Number(button.dataset.revoke)); await loadTokens(); });
});
$("#new-project").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded($("#project-error"), async () => {
    const created = await api.createProject($("#project-name").value.trim(), $("#project-description").value);
    location.assign(`/team?project=${created.id}`);
  });
});

loadMembers().catch((error) => { $("#flash").textContent = error.message; });
loadTokens().catch((error) => { $("#token-error").textContent = error.message; });
