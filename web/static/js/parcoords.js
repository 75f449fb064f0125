// Parallel coordinates of recipe parameters against outcome (as the Optuna dashboard and W&B
// offer): one line per run; the axes are the recipe leaves that differ between runs (numbers
// as they are, text as categories), then the final top-1 and Winograd sparsity.
import { flatten } from "./results.js";

const MAX_PARAMS = 10;

// [{label, values, ticktext?}] for the runs' varying recipe leaves (stable, sorted by path).
export function parameterAxes(runs) {
  const flat = runs.map((run) => flatten({ method: run.method, ...run.recipe }));
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))].filter((path) => path !== "name" && path !== "description").sort();
  const axes = [];
  for (const path of paths) {
    const values = flat.map((f) => f[path]);
    const distinct = new Set(values.map((v) => JSON.stringify(v ?? null)));
    if (distinct.size < 2) continue;
    if (values.every((v) => typeof v === "number")) axes.push({ label: path, values });
    else {
      const names = [...distinct].sort();
      axes.push({ label: path, values: values.map((v) => names.indexOf(JSON.stringify(v ?? null))), tickvals: names.map((_, i) => i), ticktext: names.map((n) => JSON.parse(n) === null ? "(none)" : String(JSON.parse(n))) });
    }
    if (axes.length >= MAX_PARAMS) break;
  }
  return axes;
}

const hasWebGL = () => {
  try {
    return Boolean(document.createElement("canvas").getContext("webgl"));
  } catch {
    return false;
  }
};

// Without WebGL (plotly's parcoords needs it): the same axes drawn as SVG lines, each axis
// scaled to its own range, labelled with its extremes (or its categories).
function svgParallel(el, runs, dimensions, top1) {
  const scaled = dimensions.map((d) => {
    const finite = d.values.filter((v) => Number.isFinite(v));
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    return { ...d, lo, hi, at: (v) => (Number.isFinite(v) ? (hi > lo ? (v - lo) / (hi - lo) : 0.5) : null) };
  });
  const [best, worst] = [Math.max(...top1.filter(Number.isFinite)), Math.min(...top1.filter(Number.isFinite))];
  const shade = (v) => {
    const t = best > worst ? (v - worst) / (best - worst) : 1;
    return `hsl(${Math.round(260 - 200 * t)}, 70%, ${Math.round(35 + 15 * t)}%)`;
  };
  const x = scaled.map((_, i) => i);
  const traces = runs.map((run, r) => ({
    type: "scatter", mode: "lines+markers", name: `#${run.id} ${run.name}`, x, y: scaled.map((d) => d.at(d.values[r])),
    line: { color: shade(top1[r]), width: 2 }, marker: { size: 5 }, customdata: scaled.map((d) => (d.ticktext ? d.ticktext[d.values[r]] : d.values[r])),
    hovertemplate: `#${run.id} ${run.name}<br>%{customdata}<extra></extra>`,
  }));
  const fmt = (d, v) => (d.ticktext ? d.ticktext[v] : d.tickformat ? window.Plotly.d3?.format?.(d.tickformat)?.(v) ?? `${(100 * v).toFixed(1)}%` : String(Number(v.toPrecision(4))));
  const annotations = scaled.flatMap((d, i) => [
    { x: i, y: 1.02, text: fmt(d, d.hi), showarrow: false, yanchor: "bottom", font: { size: 10 } },
    { x: i, y: -0.02, text: fmt(d, d.lo), showarrow: false, yanchor: "top", font: { size: 10 } },
  ]);
  window.Plotly.react(el, traces, {
    uirevision: "winoprune", showlegend: false, margin: { l: 40, r: 40, t: 30, b: 90 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { tickvals: x, ticktext: scaled.map((d) => d.label), tickangle: -30, showgrid: true, gridcolor: "#94a3b8", zeroline: false },
    yaxis: { visible: false, range: [-0.1, 1.1] }, annotations,
  }, { responsive: true, displaylogo: false });
}

export function parcoordsChart(el, runs) {
  const axes = parameterAxes(runs);
  const top1 = runs.map((r) => r.top1);
  const dimensions = [...axes, { label: "final top-1", values: top1, tickformat: ".1%" }, { label: "final Winograd sparsity", values: runs.map((r) => r.sparsity), tickformat: ".0%" }];
  el.dataset.axes = String(dimensions.length);
  const fallback = () => {
    window.Plotly.purge(el);
    svgParallel(el, runs, dimensions, top1);
    el.dataset.ready = "1";
    el.dataset.mode = "svg";
  };
  if (!hasWebGL()) return fallback();
  const drawn = window.Plotly.react(el, [{
    type: "parcoords",
    line: { color: top1, colorscale: "Viridis", showscale: true, colorbar: { title: { text: "top-1" }, tickformat: ".0%" } },
    dimensions,
  }], { uirevision: "winoprune", margin: { l: 70, r: 70, t: 50, b: 30 }, paper_bgcolor: "rgba(0,0,0,0)", font: { size: 12 } }, { responsive: true, displaylogo: false });
  el.dataset.ready = "1";
  // a WebGL context plotly cannot use (software rendering): plotly prints a notice instead
  return Promise.resolve(drawn).then(() => {
    if (el.textContent.includes("WebGL is not supported")) fallback();
    else el.dataset.mode = "webgl";
  });
}
