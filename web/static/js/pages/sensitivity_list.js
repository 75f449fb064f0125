// A project's sensitivity scans and the form that starts one.
import { api } from "../api.js";
import { $, badge, h, mainData } from "../util.js";

const project = Number(mainData().project);
const run = mainData().run ? Number(mainData().run) : null;

async function list() {
  const params = { project };
  if (run) params.run_id = run;
  const { items } = await api.scans(params);
  const body = $("#scan-table tbody");
  body.replaceChildren(...items.map((s) => h("tr", {},
    h("td", {}, h("a", { href: `/sensitivity/${s.id}` }, `#${s.id}`)),
    h("td", {}, h("a", { href: `/sensitivity/${s.id}` }, s.name)),
    h("td", {}, s.source === "run" ? `run ${s.run_id} stage ${s.stage}` : s.source),
    h("td", {}, s.method), h("td", {}, badge(s.status)),
    h("td", {}, `${s.points_done} / ${s.points_total ?? "?"}`))));
  $("#main").dataset.ready = "1";
}

function number(id) {
  const value = $(id).value.trim();
  return value === "" ? undefined : Number(value);
}

async function submit(event) {
  event.preventDefault();
  $("#scan-errors").textContent = "";
  const source = $("#scan-source").value;
  const body = { source, method: $("#scan-method").value, val_size: number("#scan-val"), retrain_steps: number("#scan-retrain"), chunk_size: number("#scan-chunk") };
  const grid = $("#scan-grid").value.trim();
  if (grid) body.grid = grid.split(",").map(Number);
  if (source === "run") Object.assign(body, { run_id: number("#scan-run"), stage: number("#scan-stage") });
  else Object.assign(body, { project, recipe: $("#scan-recipe").value });
  if (source === "artifact") body.artifact_id = number("#scan-artifact");
  try {
    const scan = await api.createScan(body);
    location.assign(`/sensitivity/${scan.id}`);
  } catch (error) {
    $("#scan-errors").textContent = error.message;
  }
}

const form = $("#scan-form");
if (form) form.addEventListener("submit", submit);
list();
