// One function per chart. Every chart is drawn with Plotly.react and a fixed uirevision, so
// zoom, pan and legend choices survive live updates. Plotly is the global from plotly.min.js.
import { colorFor, methodColor, runColor } from "./palette.js";
import { stageLabel } from "./results-labels.js";

const UIREVISION = "winoprune";
const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];
const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13 };

function layout(extra) {
  return {
    uirevision: UIREVISION,
    font: FONT,
    margin: { l: 60, r: 20, t: 10, b: 60 },
    legend: { orientation: "h", y: -0.22 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    ...extra,
  };
}

function draw(el, traces, extraLayout) {
  window.Plotly.react(el, traces, layout(extraLayout), CONFIG);
  el.dataset.ready = "1";
}

const pctAxis = (title) => ({ title: { text: title }, tickformat: ".0%", rangemode: "tozero" });

// Accuracy (left axis) and loss (right axis) over every epoch, stage boundaries as dotted lines.
export function accuracyLossChart(el, series) {
  const traces = [
    { name: "top-1 accuracy", x: series.x, y: series.accuracy, text: series.labels, mode: "lines+markers", line: { color: COLORS[0] }, hovertemplate: "%{text}<br>top-1 %{y:.2%}<extra></extra>" },
    { name: "test loss", x: series.x, y: series.loss, text: series.labels, yaxis: "y2", mode: "lines+markers", line: { color: COLORS[1] }, hovertemplate: "%{text}<br>loss %{y:.4f}<extra></extra>" },
  ];
  if (series.trainAccuracy) {
    traces.splice(1, 0, { name: "train top-1", x: series.x, y: series.trainAccuracy, text: series.labels, mode: "lines", line: { color: COLORS[0], dash: "dot" }, hovertemplate: "%{text}<br>train top-1 %{y:.2%}<extra></extra>" });
  }
  const shapes = series.boundaries.slice(1).map((b) => ({ type: "line", xref: "x", yref: "paper", x0: b.x - 0.5, x1: b.x - 0.5, y0: 0, y1: 1, line: { dash: "dot", width: 1, color: "#64748b" } }));
  // alternate rows so the labels of short neighbouring stages do not overlap
  const annotations = series.boundaries.map((b, i) => ({ x: b.x - 0.5, y: 1, xref: "x", yref: "paper", text: stageLabel(b.stage), showarrow: false, xanchor: "left", yanchor: "bottom", yshift: i % 2 ? -16 : 0, font: { size: 11, color: "#475569" } }));
  draw(el, traces, {
    xaxis: { title: { text: "epoch (all stages)" }, zeroline: false },
    yaxis: { ...pctAxis("top-1 accuracy"), range: [0, 1] },
    // round loss ticks on their own grid (not aligned to the accuracy axis)
    yaxis2: { title: { text: "test loss" }, overlaying: "y", side: "right", rangemode: "tozero", tickmode: "auto", tickformat: ".2~f", nticks: 6, showgrid: false },
    margin: { l: 60, r: 60, t: 24, b: 60 },
    shapes,
    annotations,
  });
}

// Overall Winograd-domain sparsity of each stage beside its target, and (right axis) the
// multiplication reduction versus direct convolution the stage reached.
export function stageSparsityChart(el, rows) {
  const x = rows.map((r) => stageLabel(r.index));
  draw(el, [
    { type: "bar", name: "achieved", x, y: rows.map((r) => r.sparsity), marker: { color: COLORS[0] }, hovertemplate: "%{x}: %{y:.1%}<extra>achieved</extra>" },
    { type: "scatter", mode: "markers", name: "target", x, y: rows.map((r) => r.target), marker: { symbol: "line-ew-open", size: 28, line: { width: 3, color: COLORS[1] } }, hovertemplate: "%{x}: %{y:.1%}<extra>target</extra>" },
    { type: "scatter", mode: "lines+markers", name: "× fewer multiplications", x, y: rows.map((r) => r.reduction ?? null), yaxis: "y2", line: { color: COLORS[4] }, hovertemplate: "%{x}: %{y:.2f}× fewer than direct<extra></extra>" },
  ], {
    yaxis: { ...pctAxis("sparsity"), range: [0, 1] },
    yaxis2: { title: { text: "reduction vs direct (×)" }, overlaying: "y", side: "right", rangemode: "tozero", tickmode: "auto", showgrid: false },
    margin: { l: 60, r: 60, t: 10, b: 60 },
  });
}

// Multiplication reduction versus direct convolution per Winograd layer (direct / sparse).
export function layerReductionChart(el, rows) {
  // no direct cost per layer: the run has no spatial rows (e.g. Winograd-ReLU layers, Winograd
  // layers from the start); the totals table still has the run's figure
  const unknown = rows.length > 0 && rows.every((r) => r.reduction === null || r.reduction === undefined);
  const annotations = unknown ? [{ text: "no per-layer direct cost recorded for this run (no spatial rows)", xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { color: "#64748b" } }] : [];
  const traces = [{ type: "bar", name: "weights only", x: rows.map((r) => r.layer), y: rows.map((r) => r.reduction), marker: { color: COLORS[4] }, hovertemplate: "%{x}: %{y:.2f}× fewer<extra>weights only</extra>" }];
  if (rows.some((r) => r.activationReduction)) { // Winograd-ReLU layers
    traces.push({ type: "bar", name: "weights × activations", x: rows.map((r) => r.layer), y: rows.map((r) => r.activationReduction ?? null), marker: { color: COLORS[2] }, hovertemplate: "%{x}: %{y:.2f}× fewer<extra>weights × activations</extra>" });
  }
  draw(el, traces, { barmode: "group", showlegend: traces.length > 1, yaxis: { title: { text: "direct / sparse Winograd (×)" }, rangemode: "tozero" }, xaxis: { type: "category", automargin: true }, annotations });
}

// Winograd-domain and spatial sparsity per layer (one bar per layer and domain).
export function layerSparsityChart(el, rows) {
  const x = rows.map((r) => r.layer);
  draw(el, [
    { type: "bar", name: "Winograd domain", x, y: rows.map((r) => r.winograd), marker: { color: COLORS[0] }, hovertemplate: "%{x}: %{y:.2%}<extra>Winograd</extra>" },
    { type: "bar", name: "spatial", x, y: rows.map((r) => r.spatial), marker: { color: COLORS[2] }, hovertemplate: "%{x}: %{y:.2%}<extra>spatial</extra>" },
  ], { barmode: "group", yaxis: { ...pctAxis("sparsity"), range: [0, 1] }, xaxis: { type: "category", automargin: true } });
}

// Layer x stage heatmap of Winograd-domain sparsity.
export function layerStageHeatmap(el, matrix) {
  // a band per layer: a fixed height would stretch 3 layers over 400 px on a phone
  const height = Math.max(160, 50 + 28 * matrix.layers.length);
  el.style.height = `${height}px`;
  draw(el, [{
    type: "heatmap", x: matrix.stages.map(stageLabel), y: matrix.layers, z: matrix.z, zmin: 0, zmax: 1,
    colorscale: "Blues", reversescale: true, colorbar: { tickformat: ".0%" }, hovertemplate: "%{y} · %{x}: %{z:.2%}<extra></extra>",
  }], { height, xaxis: { type: "category" }, yaxis: { type: "category", autorange: "reversed", automargin: true }, margin: { l: 90, r: 20, t: 10, b: 40 } });
}

// Multiplications per image of each layer: direct, dense Winograd, sparse Winograd.
export function multiplicationsChart(el, rows) {
  const x = rows.map((r) => r.layer);
  const bar = (name, key, color) => ({ type: "bar", name, x, y: rows.map((r) => r[key]), marker: { color }, hovertemplate: `%{x}: %{y:,.0f}<extra>${name}</extra>` });
  const traces = [bar("direct", "direct", COLORS[4]), bar("dense Winograd", "dense", COLORS[3]), bar("sparse Winograd", "sparse", COLORS[0])];
  if (rows.some((r) => r.activationCounted)) { // Winograd-ReLU: nonzero weights x nonzero activations
    traces.push({ ...bar("weights × activations", "activation", COLORS[2]), y: rows.map((r) => (r.activationCounted ? r.activation : null)) });
  }
  draw(el, traces, {
    barmode: "group", yaxis: { title: { text: "multiplications / image" }, type: "log" }, xaxis: { type: "category", automargin: true },
  });
}

// Winograd-ReLU layers: the nonzero share of the transformed activations per layer (bars) and
// the weights x activations multiplications as a fraction of the weight-only ones (markers).
export function activationDensityChart(el, rows) {
  const x = rows.map((r) => r.layer);
  const share = rows.map((r) => (r.weightOnly ? r.activation / r.weightOnly : null));
  draw(el, [
    { type: "bar", name: "activation density", x, y: rows.map((r) => r.density), marker: { color: COLORS[2] }, hovertemplate: "%{x}: %{y:.1%} of transformed activations nonzero<extra></extra>" },
    { type: "scatter", mode: "markers", name: "weights × activations / weights only", x, y: share, customdata: rows.map((r) => [r.activation, r.weightOnly]), marker: { symbol: "diamond", size: 10, color: COLORS[1] }, hovertemplate: "%{x}: %{customdata[0]:,.0f} of %{customdata[1]:,.0f} products (%{y:.1%})<extra></extra>" },
  ], { yaxis: { ...pctAxis("share"), range: [0, 1] }, xaxis: { type: "category", automargin: true } });
}

function matrixHeatmap(el, matrix, colorscale, zmin, zmax, format) {
  delete el.dataset.pieces; // one matrix, not a DWM layer's pieces (pieceHeatmaps sets it)
  // square cells: never taller than wide (else plotly pads the y range with empty rows)
  const side = Math.max(120, Math.min(300, (el.clientWidth || 360) - 130)); // margins, colour bar
  const height = side + 60;
  el.style.height = `${height}px`;
  const size = matrix.length;
  const ticks = [...Array(size).keys()];
  draw(el, [{
    type: "heatmap", z: matrix, x: ticks, y: ticks, zmin, zmax, colorscale, reversescale: colorscale === "Blues",
    text: matrix.map((row) => row.map((v) => (v === null ? "" : format(v)))), texttemplate: "%{text}",
    hovertemplate: "position (%{y}, %{x}): %{text}<extra></extra>",
  }], { height, xaxis: { dtick: 1, title: { text: "column" }, constrain: "domain" }, yaxis: { dtick: 1, autorange: "reversed", scaleanchor: "x", constrain: "domain", title: { text: "row" } }, margin: { l: 50, r: 10, t: 10, b: 50 } });
}

// The a x a fraction of zeros at each Winograd position of one layer.
export function zeroMapChart(el, matrix) {
  matrixHeatmap(el, matrix, "Blues", 0, 1, (v) => `${Math.round(100 * v)}%`);
}

// The a x a importance factors F-hat of the tile.
export function importanceChart(el, matrix) {
  const max = Math.max(...matrix.flat());
  matrixHeatmap(el, matrix, "Oranges", 1, max, (v) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3)));
}

const fmtFactor = (v) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));

// A DWM layer: one small heatmap per piece (its a1 x a2 matrix `key`: "zeros" or "f_hat"), in a
// grid of subplots, each titled with the piece's label (kernel size, offset, phase).
function pieceHeatmaps(el, pieces, key, colorscale, zmin, zmax, format) {
  const cols = Math.min(3, pieces.length);
  const rows = Math.ceil(pieces.length / cols);
  const axis = (i) => (i === 0 ? "" : String(i + 1));
  const traces = pieces.map((piece, i) => ({
    type: "heatmap", z: piece[key], xaxis: `x${axis(i)}`, yaxis: `y${axis(i)}`, zmin, zmax, colorscale,
    reversescale: colorscale === "Blues", showscale: false, xgap: 1, ygap: 1,
    text: piece[key].map((row) => row.map(format)), texttemplate: "%{text}", textfont: { size: 10 },
    hovertemplate: `${piece.label}<br>position (%{y}, %{x}): %{text}<extra></extra>`,
  }));
  const height = 40 + 150 * rows; // a 3 x 3 grid of pieces needs more room than one matrix
  el.style.height = `${height}px`;
  const extra = { height, grid: { rows, columns: cols, pattern: "independent", ygap: 0.3, xgap: 0.12 }, margin: { l: 10, r: 10, t: 24, b: 10 } };
  const bare = { dtick: 1, showticklabels: false, ticks: "", showgrid: false, zeroline: false };
  pieces.forEach((piece, i) => {
    extra[`xaxis${axis(i)}`] = { ...bare, constrain: "domain" };
    extra[`yaxis${axis(i)}`] = { ...bare, autorange: "reversed", scaleanchor: `x${axis(i)}` };
  });
  extra.annotations = pieces.map((piece, i) => ({
    text: piece.label, xref: `x${axis(i)} domain`, yref: `y${axis(i)} domain`, x: 0.5, y: 1, yanchor: "bottom",
    showarrow: false, font: { size: 11 },
  }));
  el.dataset.pieces = String(pieces.length);
  draw(el, traces, extra);
}

// The zero fractions of each piece of a DWM layer.
export function zeroPiecesChart(el, pieces) {
  pieceHeatmaps(el, pieces, "zeros", "Blues", 0, 1, (v) => `${Math.round(100 * v)}%`);
}

// The importance factors F-hat of each piece of a DWM layer (one scale over the layer).
export function importancePiecesChart(el, pieces) {
  const max = Math.max(...pieces.flatMap((p) => p.f_hat.flat()));
  pieceHeatmaps(el, pieces, "f_hat", "Oranges", 1, max, fmtFactor);
}

// Legends above the plot: below it they overlap the x-axis title (and long layer names).
const LEGEND_ON_TOP = { legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, margin: { l: 60, r: 20, t: 40, b: 60 } };

// Top-1 accuracy per epoch, one line per run (each run's own stable colour).
export function compareAccuracyChart(el, runs) {
  draw(el, runs.map((run, i) => ({
    name: run.label, x: run.series.x, y: run.series.accuracy, text: run.series.labels, mode: "lines+markers",
    line: { color: runColor(run.run.id) }, hovertemplate: `${run.label}<br>%{text}<br>top-1 %{y:.2%}<extra></extra>`,
  })), { xaxis: { title: { text: "epoch (all stages)" } }, yaxis: { ...pctAxis("top-1 accuracy"), range: [0, 1] }, ...LEGEND_ON_TOP });
}

// Per-layer Winograd sparsity of each run's last stage, one bar trace per run.
export function compareLayersChart(el, runs) {
  draw(el, runs.map((run, i) => ({
    type: "bar", name: run.label, x: run.rows.map((r) => r.layer), y: run.rows.map((r) => r.winograd),
    marker: { color: runColor(run.run.id) }, hovertemplate: `${run.label}<br>%{x}: %{y:.2%}<extra></extra>`,
  })), { barmode: "group", yaxis: { ...pctAxis("Winograd sparsity"), range: [0, 1] }, xaxis: { type: "category", automargin: true }, ...LEGEND_ON_TOP });
}

// An axis range around the values with 6 % padding (not a fixed 0-100 %).
export function fittedRange(values, { min = -Infinity, max = Infinity } = {}) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return undefined;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const pad = Math.max((hi - lo) * 0.06, 0.005);
  return [Math.max(lo - pad, min), Math.min(hi + pad, max)];
}

// Accuracy against Winograd sparsity, one point per finished stage; one trace per group (a
// method by default; `group` names the point field) in the group's stable colour.
export function paretoChart(el, points, front, group = "method") {
  const groups = [...new Set(points.map((p) => p[group]))].sort();
  const traces = groups.map((value) => {
    const mine = points.filter((p) => p[group] === value);
    return {
      type: "scatter", mode: "markers", name: String(value), x: mine.map((p) => p.sparsity), y: mine.map((p) => p.accuracy),
      customdata: mine.map((p) => [p.runId, p.stage]), text: mine.map((p) => `${p.runName} (#${p.runId}) · ${stageLabel(p.stage)}`),
      marker: { size: 10, color: group === "method" ? methodColor(value) : colorFor(`${group}:${value}`) }, hovertemplate: "%{text}<br>sparsity %{x:.1%} · top-1 %{y:.2%}<extra></extra>",
    };
  });
  const sorted = [...front].sort((a, b) => a.sparsity - b.sparsity);
  traces.push({ type: "scatter", mode: "lines", name: "Pareto front", x: sorted.map((p) => p.sparsity), y: sorted.map((p) => p.accuracy), line: { dash: "dash", color: "#64748b", shape: "hv" }, hoverinfo: "skip" });
  const x = fittedRange(points.map((p) => p.sparsity), { min: 0, max: 1 });
  const y = fittedRange(points.map((p) => p.accuracy), { min: 0, max: 1 });
  draw(el, traces, { xaxis: { ...pctAxis("Winograd-domain sparsity"), rangemode: "normal", range: x }, yaxis: { ...pctAxis("top-1 accuracy"), rangemode: "normal", range: y }, hovermode: "closest" });
}
