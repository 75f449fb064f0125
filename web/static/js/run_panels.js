// The non-chart panels of the run page: stage timeline, log, totals, Winograd-position maps.
import { api } from "./api.js";
import { importanceChart, importancePiecesChart, zeroMapChart, zeroPiecesChart } from "./charts.js";
import { multiplicationTotals } from "./results.js";
import { badge, fmtDate, fmtDuration, fmtInt, fmtPct, fmtTimes, h, stageLabel } from "./util.js";

// One row per stage: status, target, achieved sparsity and accuracy, timings, device, and a bar
// placing the stage on the run's time axis.
export function renderTimeline(tbody, run) {
  const times = run.stages.flatMap((s) => [s.started_at, s.finished_at]).filter(Boolean).map((t) => Date.parse(t));
  const start = Math.min(...times);
  const end = Math.max(...times, Date.now());
  const span = Math.max(end - start, 1);
  tbody.replaceChildren(...run.stages.map((s) => {
    const from = s.started_at ? Date.parse(s.started_at) : null;
    const to = s.finished_at ? Date.parse(s.finished_at) : from !== null && s.status === "running" ? Date.now() : from;
    const bar = from === null ? "" : h("span", { class: `timeline-bar bar-${s.status}`, style: `left:${(100 * (from - start)) / span}%;width:${Math.max((100 * (to - from)) / span, 0.5)}%` });
    return h("tr", { "data-stage": s.index, "data-status": s.status },
      h("th", { scope: "row" }, stageLabel(s.index)), h("td", {}, s.type), h("td", {}, badge(s.status)),
      h("td", {}, s.target === null ? "—" : fmtPct(s.target)), h("td", {}, fmtPct(s.sparsity)),
      h("td", { "data-col": "mult-reduction" }, fmtTimes(s.mult_reduction ?? null)), h("td", {}, fmtPct(s.accuracy)),
      h("td", {}, fmtDate(s.started_at)), h("td", {}, fmtDate(s.finished_at)),
      h("td", {}, s.duration_s !== null ? fmtDuration(s.duration_s) : s.status === "running" ? "running" : "—"),
      h("td", {}, s.started_at ? run.device || "—" : "—"),
      h("td", { class: "timeline-col" }, h("div", { class: "timeline-track", "aria-hidden": "true" }, bar)));
  }));
}

const LOG_LIMIT = 400;

function describe(event) {
  const data = event.data || {};
  if (data.message) return data.message;
  const parts = Object.entries(data).map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value, round4) : round4(key, value)}`);
  return parts.join(" ");
}

// Floats in the log to 4 significant digits (integers and text as they are).
function round4(_key, value) {
  return typeof value === "number" && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value;
}

// The run's change notices as a log, newest last (metric/layer notices folded to keep it short).
export function renderLog(list, events) {
  const shown = events.slice(-LOG_LIMIT);
  list.replaceChildren(...shown.map((event) => h("li", { "data-kind": event.kind },
    h("time", { datetime: event.created_at }, fmtDate(event.created_at)), " ",
    h("span", { class: "log-kind" }, event.kind), " ", describe(event))));
  list.scrollTop = list.scrollHeight;
}

// `directTotal`: the stage's `mult_direct` metric, used when the layer rows give no direct cost
// (a run without spatial rows, e.g. Winograd-ReLU models, which are Winograd layers from birth).
export function renderTotals(tbody, rows, directTotal = null) {
  const totals = multiplicationTotals(rows);
  const direct = totals.direct ?? directTotal;
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : "—");
  const body = [
    h("tr", {}, h("th", { scope: "row" }, "direct"), h("td", { "data-total": "direct" }, fmtInt(direct)), h("td", {}, "1.00×")),
    h("tr", {}, h("th", { scope: "row" }, "dense Winograd"), h("td", { "data-total": "dense" }, fmtInt(totals.dense)), h("td", {}, ratio(direct, totals.dense))),
    h("tr", {}, h("th", { scope: "row" }, totals.activation === null ? "sparse Winograd" : "sparse Winograd, weights only"), h("td", { "data-total": "sparse" }, fmtInt(totals.sparse)), h("td", {}, ratio(direct, totals.sparse))),
  ];
  if (totals.activation !== null) { // Winograd-ReLU: nonzero weights x nonzero activations
    body.push(h("tr", {}, h("th", { scope: "row" }, "sparse Winograd, weights × activations"), h("td", { "data-total": "activation" }, fmtInt(totals.activation)), h("td", { "data-ratio": "activation" }, ratio(direct, totals.activation))));
  }
  tbody.replaceChildren(...body);
}

const importanceByTile = new Map();
let shownKey = null;
let shownPieces = null; // the DWM pieces of the layer shown, or null

// The a x a zero fractions of a layer (from the API when it offers them) beside F-hat of the tile;
// a DWM layer: one map per piece beside each piece's F-hat.
export async function renderPositions(runId, tile, stage, layer) {
  if (!importanceByTile.has(tile)) importanceByTile.set(tile, api.importance(tile));
  const importance = await importanceByTile.get(tile);
  const importanceEl = document.getElementById("chart-importance");
  const zeros = document.getElementById("chart-zeros");
  const key = `${stage}:${layer}`;
  const drawImportance = () => {
    if (shownPieces && key === shownKey) importancePiecesChart(importanceEl, shownPieces);
    else importanceChart(importanceEl, importance.f_hat);
  };
  if (layer === null || key === shownKey) return drawImportance();
  try {
    const result = await api.zeroMap(runId, stage, layer);
    shownKey = key;
    shownPieces = result.pieces || null;
    zeros.querySelector("[data-testid='zero-map-missing']")?.remove(); // the map replaces the note
    zeros.setAttribute("role", "img");
    if (shownPieces) zeroPiecesChart(zeros, shownPieces);
    else zeroMapChart(zeros, result.zeros);
    drawImportance();
  } catch (error) {
    drawImportance();
    if (error.status !== 404) throw error;
    zeros.removeAttribute("role");
    zeros.replaceChildren(h("p", { class: "empty", "data-testid": "zero-map-missing" },
      "No checkpoint of this stage yet: the map appears when the stage has saved one."));
  }
}
