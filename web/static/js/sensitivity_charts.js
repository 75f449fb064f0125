// The sensitivity scan's charts, one function each, drawn with Plotly.react and a fixed
// uirevision so zoom and legend choices survive the live updates.
const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f", "#64748b", "#ca8a04"];
const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13 };

function draw(el, traces, extra) {
  const layout = { uirevision: "winoprune-sensitivity", font: FONT, margin: { l: 60, r: 20, t: 10, b: 60 }, legend: { orientation: "h", y: -0.25 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", ...extra };
  window.Plotly.react(el, traces, layout, CONFIG);
  el.dataset.ready = "1";
}

// One curve per layer: accuracy against the x column ("sparsity" or "mult_saved").
export function sensitivityChart(el, layers, points, baseline, xKey, xTitle) {
  const traces = layers.map((layer, i) => {
    const mine = points.filter((p) => p.layer === layer).sort((a, b) => a.grid_index - b.grid_index);
    return { name: layer, x: mine.map((p) => p[xKey]), y: mine.map((p) => p.accuracy), mode: "lines+markers", line: { color: COLORS[i % COLORS.length] }, hovertemplate: `${layer}<br>${xTitle} %{x}<br>accuracy %{y:.2%}<extra></extra>` };
  });
  const shapes = baseline ? [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: baseline.accuracy, y1: baseline.accuracy, line: { dash: "dot", color: "#64748b", width: 1 } }] : [];
  const xaxis = xKey === "sparsity" ? { title: { text: xTitle }, tickformat: ".0%", range: [0, 1] } : { title: { text: xTitle } };
  draw(el, traces, { xaxis, yaxis: { title: { text: "validation accuracy" }, tickformat: ".0%" }, shapes });
}

// The allocation's predicted accuracy against the global target.
export function allocationChart(el, curve, chosen) {
  const traces = [{ name: "predicted accuracy", x: curve.map((r) => r.achieved), y: curve.map((r) => r.accuracy), mode: "lines+markers", line: { color: COLORS[0] } }];
  if (chosen) traces.push({ name: "this allocation", x: [chosen.achieved], y: [chosen.predicted_accuracy], mode: "markers", marker: { size: 12, color: COLORS[1] } });
  draw(el, traces, { xaxis: { title: { text: "global target reached" }, tickformat: ".0%" }, yaxis: { title: { text: "predicted accuracy", standoff: 8 }, tickformat: ".2~%", automargin: true } });
}
