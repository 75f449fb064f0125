// Run detail: stage timeline, curves, per-layer charts, logs and actions; live over SSE
// (polling `changes?after=` as the fallback), charts redrawn in place with Plotly.react.
import { api, follow } from "../api.js";
import { accuracyLossChart, activationDensityChart, layerReductionChart, layerSparsityChart, layerStageHeatmap, multiplicationsChart, stageSparsityChart } from "../charts.js";
import { renderLog, renderPositions, renderTimeline, renderTotals } from "../run_panels.js";
import { progressFraction, progressText } from "../progress.js";
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
  $("#run-status").replaceWith(Object.assign(badge(run.status), { id: "run-status" }));
  $("#run-status").dataset.testid = "run-status";
  const parts = [run.method, run.model, run.dataset, `tile ${run.recipe.tile}`, `owner ${run.owner || "—"}`, `attempt ${run.attempt_count}`];
  if (run.tags.length) parts.push(`tags: ${run.tags.join(", ")}`);
  $("#run-summary").textContent = parts.join(" · ") + (run.error ? ` · error: ${run.error}` : "");
  const fraction = progressFraction(run);
  const bar = $("#run-progress");
  bar.setAttribute("aria-valuenow", String(Math.round(100 * fraction)));
  bar.setAttribute("aria-valuetext", `${progressText(run)} (${Math.round(100 * fraction)} %)`);
  bar.firstElementChild.style.width = `${(100 * fraction).toFixed(1)}%`;
  $("#btn-cancel").hidden = !canEdit || !["queued", "running"].includes(run.status) || run.cancel_requested;
  $("#btn-retry").hidden = !canEdit || !["failed", "cancelled"].includes(run.status);
  $("#resume-box").hidden = !canEdit || !["failed", "cancelled", "succeeded"].includes(run.status);
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
  const activations = activationRows(state.layers, stage); // Winograd-ReLU runs only
  $("#activation-card").hidden = !activations.length;
  if (activations.length) activationDensityChart($("#chart-activations"), activations);
  const layers = layerOrder(state.layers.filter((r) => r.domain === "winograd"));
  const layer = selectedLayer(layers);
  fillSelect($("#layer-select"), layers, layer, (v) => v);
  renderPositions(runId, run.recipe.tile, stage, layer);
}

function renderArtifacts(artifacts) {
  const list = $("#checkpoints");
  const checkpoints = artifacts.filter((a) => a.kind === "checkpoint");
  if (!checkpoints.length) return list.replaceChildren(h("li", { class: "muted" }, "none yet"));
  list.replaceChildren(...checkpoints.map((a) => h("li", {}, h("a", { href: api.downloadUrl(a.id), download: a.name }, a.name), ` (${(a.size / 1024).toFixed(0)} KiB${a.meta && a.meta.stage !== undefined ? `, ${stageLabel(a.meta.stage)}` : ""})`)));
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
    else if (event.kind === "run.retried" || event.kind === "run.resumed") schedule("reset", "run", "metrics", "layers");
    else if (event.kind === "run.deleted") flash("This run was deleted.", "error");
    else schedule("run");
  }
}

async function act(action) {
  try {
    if (action === "cancel") await api.cancelRun(runId);
    if (action === "retry") await api.retryRun(runId);
    if (action === "resume") await api.resumeRun(runId, Number($("#resume-stage").value));
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
    await refresh(new Set(["run", "metrics", "layers", "artifacts"]));
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
$("#btn-resume").addEventListener("click", () => act("resume"));
