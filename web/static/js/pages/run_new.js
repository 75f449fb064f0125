// New run: a recipe edited in a form or as YAML, from a preset or a cloned run; API errors
// are shown next to the field their path names (e.g. stages.1.target).
import { api } from "../api.js";
import { $, $$, getPath, h, recipeYaml, setPath, urlParams } from "../util.js";

const form = $("#run-form");
const stagesBody = $("#stages-body");
const yamlBox = $("#recipe-yaml");
const template = $("#stage-row-template");
let recipe = {};
let mode = "form";
let presets = [];
const DEFAULT_STAGE = { type: "spatial-structured", target: 0.3, epochs: 1, optimizer: { name: "sgd", lr: 0.01, momentum: 0.9 } };
const DEFAULT_PRETRAIN = { epochs: 1, optimizer: { name: "sgd", lr: 0.05, momentum: 0.9 } };

// Form text -> recipe value of the kind the field declares (strict: no "1" for 1).
function parseValue(text, kind) {
  const value = text.trim();
  if (kind === "text") return value;
  if (kind === "bool") return value === "true";
  if (kind === "text-or-null" || kind === "float-or-null") {
    if (!value) return null;
    return kind === "text-or-null" ? value : numberOrText(value);
  }
  if (kind === "lr" && value === "auto") return value;
  return numberOrText(value);
}

// Not a number: keep the text so the API names the field in its 422 answer.
const numberOrText = (value) => (value !== "" && Number.isFinite(Number(value)) ? Number(value) : value);

function fieldInputs() {
  return $$("[data-path]", form);
}

function renderStages() {
  const stages = recipe.stages || [];
  stagesBody.replaceChildren(...stages.map((_, index) => {
    const html = template.innerHTML.replaceAll("__i__", String(index));
    const holder = document.createElement("tbody");
    holder.innerHTML = html; // our own template; only the index is substituted
    return holder.firstElementChild;
  }));
}

function fillForm() {
  renderStages();
  for (const input of fieldInputs()) {
    const value = getPath(recipe, input.dataset.path);
    if (input.dataset.kind === "bool") input.value = value ? "true" : "false";
    else input.value = value === undefined || value === null ? "" : String(value);
  }
  const pretrain = Boolean(recipe.pretrain);
  $("#pretrain-on").checked = pretrain;
  for (const input of $$("[data-path^='pretrain.']", form)) input.disabled = !pretrain;
  updateYaml();
}

function updateYaml() {
  if (mode === "form") yamlBox.value = recipeYaml(recipe);
}

function onFieldInput(event) {
  const input = event.target;
  if (!input.dataset || !input.dataset.path) return;
  const value = parseValue(input.value, input.dataset.kind);
  // null text and a false bool are left out (the recipe's default), as the canonical JSON does
  const absent = (value === null && input.dataset.kind === "text-or-null") || (value === false && input.dataset.kind === "bool");
  setPath(recipe, input.dataset.path, absent ? undefined : value);
  clearError(input.dataset.path);
  updateYaml();
}

function onStageAction(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const index = Number(button.closest("tr").dataset.index);
  const stages = recipe.stages;
  const action = button.dataset.action;
  if (action === "remove") stages.splice(index, 1);
  const to = action === "up" ? index - 1 : action === "down" ? index + 1 : -1;
  if (to >= 0 && to < stages.length) [stages[index], stages[to]] = [stages[to], stages[index]];
  fillForm();
  const focusIndex = action === "remove" ? Math.min(index, stages.length - 1) : to;
  const next = stagesBody.querySelector(`tr[data-index="${focusIndex}"] button[data-action="${action === "remove" ? "remove" : action}"]`);
  if (next) next.focus();
}

function clearErrors() {
  for (const box of $$("[data-error-for]")) box.textContent = "";
  for (const input of $$("[aria-invalid]")) input.removeAttribute("aria-invalid");
  $("#other-errors").hidden = true;
  $("#yaml-error").textContent = "";
}

function clearError(path) {
  const box = document.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
  if (box) box.textContent = "";
  const input = document.querySelector(`[data-path="${CSS.escape(path)}"]`);
  if (input) input.removeAttribute("aria-invalid");
}

// Each error goes next to its field; errors without a field (or in YAML mode) go to a list.
function showErrors(errors) {
  clearErrors();
  const loose = [];
  let first = null;
  for (const { path, msg } of errors) {
    const box = document.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    const input = document.querySelector(`[data-path="${CSS.escape(path)}"]`) || (path === "project" ? $("#run-project") : path === "tags" ? $("#run-tags") : null);
    if (box) box.textContent = msg;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (!box || mode === "yaml") loose.push(`${path || "recipe"}: ${msg}`);
  }
  const other = $("#other-errors");
  other.replaceChildren(h("p", {}, "The run was not submitted:"), h("ul", {}, loose.map((text) => h("li", {}, text))));
  other.hidden = loose.length === 0;
  if (mode === "yaml") $("#yaml-error").textContent = loose.join("; ");
  else if (first) first.focus();
}

async function switchMode(next) {
  if (next === mode) return;
  if (next === "form") {
    try {
      recipe = (await api.yamlToRecipe(yamlBox.value)).recipe;
    } catch (error) {
      $("#yaml-error").textContent = error.message;
      return;
    }
  }
  mode = next;
  if (mode === "yaml") yamlBox.value = recipeYaml(recipe);
  else fillForm();
  for (const [tab, panel, name] of [[$("#tab-form"), $("#panel-form"), "form"], [$("#tab-yaml"), $("#panel-yaml"), "yaml"]]) {
    tab.setAttribute("aria-selected", String(mode === name));
    tab.tabIndex = mode === name ? 0 : -1;
    panel.hidden = mode !== name;
  }
}

async function submit(event) {
  event.preventDefault();
  const button = $("#submit-run");
  button.disabled = true;
  const tags = $("#run-tags").value.split(",").map((tag) => tag.trim()).filter(Boolean);
  const body = {
    project: Number($("#run-project").value),
    recipe: mode === "yaml" ? yamlBox.value : recipe,
    tags,
    notes: $("#run-notes").value,
  };
  try {
    const run = await api.createRun(body, crypto.randomUUID ? crypto.randomUUID() : String(Date.now()));
    location.assign(`/runs/${run.id}`);
  } catch (error) {
    showErrors(error.fieldErrors ? error.fieldErrors() : [{ path: "", msg: error.message }]);
    button.disabled = false;
  }
}

function usePreset(id) {
  const preset = presets.find((p) => p.id === id);
  if (!preset) return;
  recipe = structuredClone(preset.recipe);
  clearErrors();
  if (mode === "yaml") yamlBox.value = preset.yaml;
  fillForm();
}

async function start() {
  presets = await api.presets();
  const select = $("#preset");
  select.replaceChildren(h("option", { value: "" }, "(choose a preset)"), ...presets.map((p) => h("option", { value: p.id, title: p.description }, p.name)));
  const params = urlParams();
  const cloneId = params.get("clone");
  if (cloneId) {
    const run = await api.run(cloneId);
    recipe = structuredClone(run.recipe);
    $("#run-tags").value = run.tags.join(", ");
    const note = $("#clone-note");
    note.hidden = false;
    note.textContent = `Cloned from run #${run.id} (${run.name}); edit and submit as a new run.`;
  } else if (params.get("scan")) {
    // the Allocate form of a sensitivity scan: its recipe with the per-layer targets
    const scan = await api.scan(params.get("scan"));
    recipe = structuredClone(scan.recipe);
    recipe.layers = { ...(recipe.layers || {}), overrides: JSON.parse(params.get("overrides") || "{}"), allocated_from: `scan:${scan.id}` };
    const note = $("#clone-note");
    note.hidden = false;
    note.textContent = `Per-layer targets from sensitivity scan #${scan.id}; add the stages and submit.`;
  } else {
    const preset = params.get("preset") || (presets.some((p) => p.id === "digits-demo") ? "digits-demo" : presets[0] && presets[0].id);
    select.value = preset || "";
    recipe = structuredClone((presets.find((p) => p.id === preset) || { recipe: { name: "new-run", model: { name: "digits-cnn" }, stages: [] } }).recipe);
  }
  fillForm();
  form.dataset.ready = "1";
}

form.addEventListener("input", onFieldInput);
form.addEventListener("change", onFieldInput);
stagesBody.addEventListener("click", onStageAction);
$("#add-stage").addEventListener("click", () => {
  const stages = recipe.stages || (recipe.stages = []);
  const last = stages[stages.length - 1];
  stages.push(structuredClone(last || DEFAULT_STAGE));
  fillForm();
  stagesBody.lastElementChild.querySelector("select").focus();
});
$("#pretrain-on").addEventListener("change", (event) => {
  if (event.target.checked) recipe.pretrain = recipe.pretrain || structuredClone(DEFAULT_PRETRAIN);
  else delete recipe.pretrain;
  fillForm();
});
$("#preset").addEventListener("change", (event) => usePreset(event.target.value));
$("#tab-form").addEventListener("click", () => switchMode("form"));
$("#tab-yaml").addEventListener("click", () => switchMode("yaml"));
$(".tabs").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
  const next = mode === "form" ? "yaml" : "form";
  switchMode(next).then(() => $(`#tab-${next}`).focus());
});
form.addEventListener("submit", submit);
start();
