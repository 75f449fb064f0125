// Pareto view: top-1 accuracy against Winograd-domain sparsity, one point per finished stage of
// every run in the project; filters and colour grouping (method, tile, model, data set, tag)
// live in the URL; the points table sorts by any column; points (and rows) link to their run.
// Below: parallel coordinates of the runs' recipe parameters against their outcome.
import { allRuns, api } from "../api.js";
import { paretoChart } from "../charts.js";
import { parcoordsChart } from "../parcoords.js";
import { paretoFront } from "../results.js";
import { $, $$, fmtPct, h, mainData, setUrlParams, stageLabel, urlParams } from "../util.js";

const project = Number(mainData().project);
const CONCURRENCY = 6;
const FILTERS = ["method", "tile", "model", "dataset", "tag"];
const state = { points: [], runs: [] };

async function details(runs) {
  const out = [];
  for (let i = 0; i < runs.length; i += CONCURRENCY) {
    out.push(...(await Promise.all(runs.slice(i, i + CONCURRENCY).map((run) => api.run(run.id)))));
  }
  return out;
}

function points(runs) {
  return runs.flatMap((run) => run.stages
    .filter((s) => s.status === "succeeded" && s.sparsity !== null && s.accuracy !== null)
    .map((s) => ({ runId: run.id, runName: run.external ? `${run.name} (external)` : run.name, method: run.method, tile: run.recipe.tile, model: run.model, dataset: run.dataset, tags: run.tags, tag: run.tags.join(", ") || "(no tag)", stage: s.index, sparsity: s.sparsity, accuracy: s.accuracy })));
}

const matches = (p, filters) => FILTERS.every((key) => !filters[key] || (key === "tag" ? p.tags.includes(filters[key]) : String(p[key]) === filters[key]));

function readControls() {
  const params = urlParams();
  return { group: params.get("group") || "method", sort: params.get("sort") || "sparsity", order: params.get("order") || "asc", filters: Object.fromEntries(FILTERS.map((k) => [k, params.get(k) || ""])) };
}

function fillOptions() {
  for (const key of FILTERS) {
    const values = key === "tag" ? state.points.flatMap((p) => p.tags) : state.points.map((p) => String(p[key]));
    const select = $(`#pareto-${key}`);
    select.replaceChildren(h("option", { value: "" }, "all"), ...[...new Set(values)].sort().map((v) => h("option", { value: v }, v)));
  }
}

const SORT_VALUE = { run: (p) => p.runId, front: (p) => (p.onFront ? 1 : 0) };

function renderTable(shown, sort, order) {
  const value = SORT_VALUE[sort] || ((p) => p[sort]);
  const sign = order === "desc" ? -1 : 1;
  const rows = [...shown].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return sign * (x < y ? -1 : x > y ? 1 : a.runId - b.runId || a.stage - b.stage);
  });
  $("#pareto-table tbody").replaceChildren(...rows.map((p) => h("tr", { "data-run-id": p.runId },
    h("td", {}, h("a", { href: `/runs/${p.runId}?stage=${p.stage}` }, `#${p.runId} ${p.runName}`)),
    h("td", {}, p.method), h("td", {}, p.tile), h("td", {}, p.model), h("td", {}, p.dataset), h("td", {}, stageLabel(p.stage)),
    h("td", {}, fmtPct(p.sparsity)), h("td", {}, fmtPct(p.accuracy)), h("td", {}, p.onFront ? "yes" : ""))));
  for (const th of $$("#pareto-table th[data-sort]")) th.setAttribute("aria-sort", th.dataset.sort === sort ? (order === "asc" ? "ascending" : "descending") : "none");
}

function render() {
  const { group, sort, order, filters } = readControls();
  $("#pareto-group").value = group;
  for (const key of FILTERS) $(`#pareto-${key}`).value = filters[key];
  const shown = state.points.filter((p) => matches(p, filters));
  const front = new Set(paretoFront(shown));
  for (const p of shown) p.onFront = front.has(p);
  paretoChart($("#chart-pareto"), shown, [...front], group);
  renderTable(shown, sort, order);
  $("#points-count").textContent = `(${shown.length} of ${state.points.length})`;
  const runs = state.runs.filter((run) => shown.some((p) => p.runId === run.id));
  const parallel = runs.length ? parcoordsChart($("#chart-parcoords"), runs.map(outcome)) : null;
  Promise.resolve(parallel).then(() => { $("#main").dataset.updated = String(Date.now()); });
}

// A run's final top-1 and sparsity: its last succeeded stage.
function outcome(run) {
  const done = run.stages.filter((s) => s.status === "succeeded" && s.accuracy !== null);
  const last = done[done.length - 1] || {};
  return { ...run, top1: last.accuracy ?? null, sparsity: last.sparsity ?? null };
}

$("#pareto-controls").addEventListener("change", (event) => {
  setUrlParams({ [event.target.name]: event.target.value });
  render();
});
for (const th of $$("#pareto-table th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => {
    const { sort, order } = readControls();
    setUrlParams({ sort: th.dataset.sort, order: sort === th.dataset.sort && order === "asc" ? "desc" : "asc" });
    render();
  });
}

(async () => {
  state.runs = await details(await allRuns({ project }));
  state.points = points(state.runs);
  fillOptions();
  render();
  $("#chart-pareto").on("plotly_click", (event) => {
    const [runId, stage] = event.points[0].customdata || [];
    if (runId) location.assign(`/runs/${runId}?stage=${stage}`);
  });
})();
