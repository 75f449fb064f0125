// Run detail: stage timeline, curves, per-layer charts, logs and actions; live over SSE
// (polling `changes?after=` as the fallback), charts redrawn in place with Plotly.react.
import { api, follow } from "../api.js";
import { accuracyLossChart, activationDensityChart, layerReductionChart, layerSparsityChart, layerStageHeatmap, multiplicationsChart, stageSparsityChart } from "../charts.js";
import { renderLog, renderPositions, renderTimeline, renderTotals } from "../run_panels.js";
import { cancelLoss, confirmAction, openNotesEditor, queueText, renderBanner, renderNotes, renderRetry, renderSystem, resumeLoss, saveNotes, shownStatus } from "../run_lifecycle.js";
import { progressFraction, progressText } from "../progress.js";
import { tileName } from "../results-labels.js";
import { operationRows, renderOperations } from "../operations.js";
import { renderSpeed } from "../speed.js";
import { activationRows, layerOrder, layerRecords, layerReductions, layerSparsity, mergeLayers, mergeMetrics, multiplicationRows, sparsityMatrix, stageMetric, stageReduction, stageSparsity, stagesWithLayers, trainingSeries } from "../results.js";
import { $, badge, flash, h, liveStatus, mainData, recipeYaml, setUrlParams, stageLabel, urlParams } from "../util.js";

const runId = Number(mainData().runId);
const canEdit = ["editor", "owner"].includes(mainData().role);
const state = { run: null, metrics: null, layers: [], layerCursor: 0, events: [], cursor: 0 };
const pending = new Set();
let timer = null;

function selectedStage() {
  const stages = stagesWithLayers(state.layers).map((s) => s.stage);
  const wanted = urlParams().get("stage");
  if (wanted !== null && stages.includes(Number(wanted))) return Number(wanted);
  return stages.length ? stages[stages.length - 1] : null;
}

function selectedLayer(layers) {
  const wanted = urlParams().get("layer");
  return layers.includes(wanted) ? wanted : layers[0] || null;
}

function fillSelect(select, values, current, label) {
  const same = select.options.length === values.length && values.every((v, i) => select.options[i].value === String(v));
  if (!same) select.replaceChildren(...values.map((v) => h("option", { value: v }, label(v))));
  if (current !== null) select.value = String(current);
}

function renderHeader() {
  const run = state.run;
  document.title = `${run.name} (#${run.id}) · winoprune`;
  $("#run-name").textContent = `#${run.id} ${run.name}`;
  $("#run-status").replaceWith(Object.assign(badge(shownStatus(run)), { id: "run-status" }));
  $("#run-status").dataset.testid = "run-status";
  const parts = [run.method, run.model, run.dataset, run.recipe.tile ? `tile ${tileName(run.recipe.tile)}` : null, `owner ${run.owner || "—"}`, `attempt ${run.attempt_count}`].filter(Boolean);
  if (run.external) parts.unshift("external run (tracking API)"); // issue 15
  if (run.description) parts.push(run.description);
  $("#run-external").hidden = !run.external;
  if (run.archived_at) parts.push("archived");
  $("#run-summary").textContent = parts.join(" · ");
  renderBanner($("#run-banner"), run);
  $("#run-queue").textContent = queueText(run);
  renderNotes($("#run-notes"), run, canEdit);
  renderSystem($("#run-system tbody"), run);
  const fraction = progressFraction(run);
  const bar = $("#run-progress");
  bar.setAttribute("aria-valuenow", String(Math.round(100 * fraction)));
  bar.setAttribute("aria-valuetext", `${progressText(run)} (${Math.round(100 * fraction)} %)`);
  bar.firstElementChild.style.width = `${(100 * fraction).toFixed(1)}%`;
  $("#btn-cancel").hidden = !canEdit || !["queued", "running"].includes(run.status) || run.cancel_requested || run.external;
  renderRetry($("#btn-retry"), $("#btn-retry-restart"), run, canEdit && !run.external); // its client feeds it
  const settled = ["failed", "cancelled", "succeeded"].includes(run.status);
  $("#btn-archive").hidden = $("#btn-delete").hidden = !canEdit || !settled;
  $("#btn-archive").textContent = run.archived_at ? "Unarchive" : "Archive";
  $("#resume-box").hidden = !canEdit || run.external || !["failed", "cancelled", "succeeded"].includes(run.status);
  fillSelect($("#resume-stage"), run.stages.map((s) => s.index), null, stageLabel);
  $("#recipe-yaml").textContent = recipeYaml(run.recipe);
}

function renderCharts() {
  const run = state.run;
  if (state.metrics) accuracyLossChart($("#chart-accuracy"), trainingSeries(state.metrics));
  const pruning = run.stages.filter((s) => s.index >= 0).map((s) => ({ index: s.index, target: s.target, sparsity: stageSparsity(s, state.metrics), reduction: stageReduction(s, state.metrics) }));
  stageSparsityChart($("#chart-stage-sparsity"), pruning);
  const stage = selectedStage();
  fillSelect($("#stage-select"), stagesWithLayers(state.layers).map((s) => s.stage), stage, stageLabel);
  if (stage === null) return;
  layerSparsityChart($("#chart-layers"), layerSparsity(state.layers, stage));
  layerReductionChart($("#chart-reduction"), layerReductions(state.layers, stage));
  layerStageHeatmap($("#chart-heatmap"), sparsityMatrix(state.layers));
  const mults = multiplicationRows(state.layers, stage);
  multiplicationsChart($("#chart-mults"), mults);
  renderTotals($("#mult-totals tbody"), mults, stageMetric(state.metrics, stage, "mult_direct"));
  $("#operations-card").hidden = !renderOperations($("#operations tbody"), operationRows(state.layers, stage));
  const activations = activationRows(state.layers, stage); // Winograd-ReLU runs only
  $("#activation-card").hidden = !activations.length;
  if (activations.length) activationDensityChart($("#chart-activations"), activations);
  const layers = layerOrder(state.layers.filter((r) => r.domain === "winograd"));
  const layer = selectedLayer(layers);
  fillSelect($("#layer-select"), layers, layer, (v) => v);
  renderPositions(runId, tileName(run.recipe.tile), stage, layer);
}

function renderArtifacts(artifacts) {
  const list = $("#checkpoints");
  const checkpoints = artifacts.filter((a) => a.kind === "checkpoint");
  if (!checkpoints.length) return list.replaceChildren(h("li", { class: "muted" }, "none yet"));
  list.replaceChildren(...checkpoints.map((a) => h("li", {}, h("a", { href: api.downloadUrl(a.id), download: `run-${runId}-${a.name}` }, a.name), ` (${(a.size / 1024).toFixed(0)} KiB${a.meta && a.meta.stage !== undefined ? `, ${stageLabel(a.meta.stage)}` : ""})`)));
}

const loaders = {
  run: async () => { state.run = await api.run(runId); renderHeader(); renderTimeline($("#stage-timeline tbody"), state.run); },
  metrics: async () => { state.metrics = mergeMetrics(state.metrics, await api.metrics(runId, state.metrics ? state.metrics.cursor : 0)); },
  layers: async () => {
    const update = await api.layers(runId, { after: state.layerCursor });
    state.layers = mergeLayers(state.layers, layerRecords(update));
    state.layerCursor = update.cursor;
  },
  reset: async () => { state.metrics = null; state.layers = []; state.layerCursor = 0; },
  artifacts: async () => renderArtifacts(await api.artifacts(runId)),
  speed: async () => renderSpeed($("#speed-measured"), $("#speed-card"), $("#speed-table tbody"), await api.speed(runId)),
};

async function refresh(kinds) {
  try {
    if (kinds.has("reset")) await loaders.reset();
    await Promise.all([...kinds].filter((k) => k !== "reset").map((k) => loaders[k]()));
    if (state.run) renderCharts();
    $("#main").dataset.updated = String(Date.now());
  } catch (error) {
    flash(error.message, "error");
  }
}

function schedule(...kinds) {
  kinds.forEach((kind) => pending.add(kind));
  clearTimeout(timer);
  timer = setTimeout(() => {
    const kinds = new Set(pending);
    pending.clear();
    refresh(kinds);
  }, 250);
}

function onEvents(events) {
  state.events.push(...events);
  renderLog($("#run-log"), state.events);
  for (const event of events) {
    if (event.kind === "metrics") schedule("metrics");
    else if (event.kind === "layers") schedule("layers");
    else if (event.kind === "artifact.created") schedule("artifacts");
    else if (event.kind === "speed.measured") schedule("speed");
    else if (event.kind === "run.retried" || event.kind === "run.resumed") schedule("reset", "run", "metrics", "layers");
    else if (event.kind === "run.deleted") flash("This run was deleted.", "error");
    else schedule("run");
  }
}

async function act(action) {
  try {
    const run = state.run;
    if (action === "cancel") {
      if (!(await confirmAction({ title: `Cancel run #${runId}?`, message: cancelLoss(run), confirm: "Stop the run", danger: true }))) return;
      await api.cancelRun(runId);
    }
    if (action === "retry") await api.retryRun(runId, "continue");
    if (action === "retry-restart") {
      const stage = stageLabel(Number($("#btn-retry-restart").dataset.stage));
      const message = `${stage} starts again from epoch 0: the epochs it has trained, their results and its checkpoints are deleted.`;
      if (!(await confirmAction({ title: `Restart ${stage}?`, message, confirm: `Restart ${stage}`, danger: true }))) return;
      await api.retryRun(runId, "restart");
    }
    if (action === "resume") {
      const index = Number($("#resume-stage").value);
      if (!(await confirmAction({ title: `Resume from ${stageLabel(index)}?`, message: resumeLoss(run, index), confirm: "Replace the results", danger: true }))) return;
      await api.resumeRun(runId, index);
    }
    if (action === "archive") await api.patchRun(runId, { archived: !run.archived_at });
    if (action === "delete") {
      const message = "The run, its metrics, layer statistics and checkpoints are deleted for good; this cannot be undone.";
      if (!(await confirmAction({ title: `Delete run #${runId}?`, message, confirm: "Delete for good", danger: true }))) return;
      await api.deleteRun(runId);
      location.assign("/runs");
      return;
    }
    schedule("run");
  } catch (error) {
    flash(error.message, "error");
  }
}

async function loadLog() {
  let after = 0;
  for (;;) {
    const result = await api.runChanges(runId, after);
    state.events.push(...result.events);
    after = result.cursor;
    if (result.events.length < 500) return after;
  }
}

(async () => {
  try {
    state.cursor = await loadLog();
    renderLog($("#run-log"), state.events);
    await refresh(new Set(["run", "metrics", "layers", "artifacts", "speed"]));
  } catch (error) {
    flash(error.message, "error");
    return;
  }
  follow({ streamUrl: (after) => api.runEventsUrl(runId, after), poll: (after) => api.runChanges(runId, after), after: state.cursor, onEvents, onMode: liveStatus });
})();

$("#stage-select").addEventListener("change", (event) => { setUrlParams({ stage: event.target.value }); renderCharts(); });
$("#layer-select").addEventListener("change", (event) => { setUrlParams({ layer: event.target.value }); renderCharts(); });
$("#btn-cancel").addEventListener("click", () => act("cancel"));
$("#btn-retry").addEventListener("click", () => act("retry"));
$("#btn-retry-restart").addEventListener("click", () => act("retry-restart"));
$("#btn-archive").addEventListener("click", () => act("archive"));
$("#btn-delete").addEventListener("click", () => act("delete"));
$("#btn-edit-notes").addEventListener("click", () => openNotesEditor($("#run-notes"), state.run));
$("#btn-notes-cancel").addEventListener("click", () => { $("#notes-form").hidden = true; });
$("#notes-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  try {
    state.run = await saveNotes(form, runId);
    form.hidden = true;
    $("#f-run-tags-error").textContent = "";
    renderHeader();
  } catch (error) {
    $("#f-run-tags-error").textContent = error.message;
  }
});
$("#btn-resume").addEventListener("click", () => act("resume"));
