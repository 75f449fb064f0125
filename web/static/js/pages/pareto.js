// Pareto view: top-1 accuracy against Winograd-domain sparsity, one point per finished stage of
// every run in the project; points (and table rows) link to their run.
import { allRuns, api } from "../api.js";
import { paretoChart } from "../charts.js";
import { paretoFront } from "../results.js";
import { $, fmtPct, h, mainData, stageLabel } from "../util.js";

const project = Number(mainData().project);
const CONCURRENCY = 6;

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
    .map((s) => ({ runId: run.id, runName: run.name, method: run.method, stage: s.index, sparsity: s.sparsity, accuracy: s.accuracy })));
}

function renderTable(all, front) {
  const onFront = new Set(front);
  $("#pareto-table tbody").replaceChildren(...all.map((p) => h("tr", {},
    h("td", {}, h("a", { href: `/runs/${p.runId}?stage=${p.stage}` }, `#${p.runId} ${p.runName}`)),
    h("td", {}, p.method), h("td", {}, stageLabel(p.stage)), h("td", {}, fmtPct(p.sparsity)), h("td", {}, fmtPct(p.accuracy)),
    h("td", {}, onFront.has(p) ? "yes" : ""))));
}

(async () => {
  const runs = await details(await allRuns({ project }));
  const all = points(runs).sort((a, b) => a.sparsity - b.sparsity);
  const front = paretoFront(all);
  const chart = $("#chart-pareto");
  paretoChart(chart, all, front);
  renderTable(all, front);
  chart.on("plotly_click", (event) => {
    const [runId, stage] = event.points[0].customdata || [];
    if (runId) location.assign(`/runs/${runId}?stage=${stage}`);
  });
  $("#main").dataset.updated = String(Date.now());
})();
