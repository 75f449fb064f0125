// Compare: a table of each run's final metrics beside the overlaid charts.
import { runColor } from "./palette.js";
import { tileName } from "./results-labels.js";
import { fmtDuration, fmtPct, fmtTimes, h } from "./util.js";

// The run's final figures: the API's `final` block when it has one, else its last finished stage.
export function finalMetrics(run) {
  const done = run.stages.filter((s) => s.status === "succeeded" && s.accuracy !== null);
  const last = done[done.length - 1] || {};
  const final = run.final || {};
  return {
    top1: final.top1 ?? last.accuracy ?? null,
    sparsity: final.winograd_sparsity ?? last.sparsity ?? null,
    reduction: final.mult_reduction ?? run.mult_reduction ?? null,
    loss: final.loss ?? last.loss ?? null,
    seconds: run.stages.reduce((sum, s) => sum + (s.duration_s || 0), 0) || null,
  };
}

export function renderFinalTable(tbody, runs) {
  tbody.replaceChildren(...runs.map((run) => {
    const m = finalMetrics(run);
    return h("tr", { "data-run-id": run.id },
      h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${runColor(run.id)}`, "aria-hidden": "true" }), h("a", { href: `/runs/${run.id}` }, `#${run.id} ${run.name}`), run.external ? [" ", h("span", { class: "badge badge-external" }, "external")] : null),
      h("td", {}, run.status), h("td", {}, run.method), h("td", {}, tileName(run.recipe.tile)), h("td", {}, run.model),
      h("td", { "data-col": "top1" }, fmtPct(m.top1)), h("td", { "data-col": "sparsity" }, fmtPct(m.sparsity)),
      h("td", { "data-col": "reduction" }, fmtTimes(m.reduction)), h("td", {}, m.loss === null ? "—" : Number(m.loss).toPrecision(4)),
      h("td", {}, m.seconds === null ? "—" : fmtDuration(m.seconds)));
  }));
}
