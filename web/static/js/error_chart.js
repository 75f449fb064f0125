// The transforms page's chart: float32 error of one tile per named point set against m, log
// scale, one trace per source, and direct float32 convolution as a dotted reference line.
const COLORS = { lavin: "#2563eb", integer: "#dc2626", barabasz: "#16a34a", search: "#9333ea" };
const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

export function tileErrorChart(el, rows) {
  const sources = [...new Set(rows.map((r) => r.source))];
  const traces = sources.map((source) => {
    const mine = rows.filter((r) => r.source === source && r.errors.float32.natural !== null);
    return {
      type: "scatter", mode: "markers", name: source,
      x: mine.map((r) => r.m), y: mine.map((r) => r.errors.float32.natural),
      text: mine.map((r) => `${r.name}: ${r.tile} {${r.points.join(", ")}}`),
      marker: { size: 10, color: COLORS[source] || "#64748b" },
      hovertemplate: "%{text}<br>error %{y:.2e}<extra></extra>",
    };
  });
  const direct = new Map();
  for (const r of rows) if (r.r === 3 && !direct.has(r.m)) direct.set(r.m, r.direct.float32);
  const ms = [...direct.keys()].sort((a, b) => a - b);
  traces.push({ type: "scatter", mode: "lines", name: "direct float32 (3x3)", x: ms, y: ms.map((m) => direct.get(m)), line: { dash: "dot", color: "#64748b" }, hoverinfo: "skip" });
  const layout = {
    uirevision: "winoprune", margin: { l: 70, r: 20, t: 10, b: 60 }, legend: { orientation: "h", y: -0.22 },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", hovermode: "closest",
    xaxis: { title: { text: "output tile m" }, dtick: 1 }, yaxis: { title: { text: "mean L1 error" }, type: "log", exponentformat: "e" },
  };
  window.Plotly.react(el, traces, layout, CONFIG);
  el.dataset.ready = "1";
}
