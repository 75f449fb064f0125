// Compare: accuracy curves and per-layer sparsity of two or more runs, and their recipe diff.
import { api } from "../api.js";
import { compareAccuracyChart, compareLayersChart } from "../charts.js";
import { layerRecords, layerSparsity, recipeDiff, stagesWithLayers, trainingSeries } from "../results.js";
import { renderFinalTable } from "../compare_table.js";
import { operationRows, operationTotals, renderCompareOperations } from "../operations.js";
import { runColor } from "../palette.js";
import { $, h, mainData } from "../util.js";

const ids = (mainData().runs || "").split(",").filter(Boolean).map(Number);

async function loadRun(id) {
  const [run, metrics, layers] = await Promise.all([api.run(id), api.metrics(id), api.layers(id)]);
  const records = layerRecords(layers);
  const stages = stagesWithLayers(records);
  const last = stages.length ? stages[stages.length - 1].stage : null;
  const ops = operationTotals(last === null ? [] : operationRows(records, last)); // additions, energy
  return { run, label: `#${run.id} ${run.name}${run.external ? " (external)" : ""}`, series: trainingSeries(metrics), rows: last === null ? [] : layerSparsity(records, last), ops };
}

function renderDiff(runs) {
  const rows = recipeDiff(runs.map((r) => r.run.recipe));
  const table = $("#recipe-diff");
  table.querySelector("thead").replaceChildren(h("tr", {}, h("th", { scope: "col" }, "recipe field"), runs.map((r) => h("th", { scope: "col" }, r.label))));
  const show = (value) => (value === undefined ? "(absent)" : JSON.stringify(value));
  table.querySelector("tbody").replaceChildren(...rows.map((row) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, row.path)), row.values.map((v) => h("td", {}, show(v))))));
  $("#diff-empty").hidden = rows.length > 0;
}

$("#compare-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const picked = $("#compare-runs").value.split(/[\s,]+/).filter((part) => /^\d+$/.test(part));
  if (picked.length < 2) {
    $("#compare-error").textContent = "Enter at least two run ids.";
    $("#compare-runs").setAttribute("aria-invalid", "true");
    return;
  }
  location.assign(`/compare?runs=${picked.join(",")}`);
});

(async () => {
  if (ids.length < 2) {
    $("#compare-error").textContent = ids.length ? "Add at least one more run." : "";
    return;
  }
  try {
    const runs = await Promise.all(ids.map(loadRun));
    $("#compare-legend").replaceChildren(...runs.map((r) => h("li", {}, h("span", { class: "swatch", style: `background:${runColor(r.run.id)}`, "aria-hidden": "true" }), h("a", { href: `/runs/${r.run.id}` }, r.label), ` · ${r.run.method} · ${r.run.status}`)));
    renderFinalTable($("#compare-final tbody"), runs.map((r) => r.run));
    renderCompareOperations($("#compare-operations tbody"), runs);
    compareAccuracyChart($("#chart-compare-accuracy"), runs);
    compareLayersChart($("#chart-compare-layers"), runs);
    renderDiff(runs);
    $("#main").dataset.updated = String(Date.now());
  } catch (error) {
    $("#compare-error").textContent = error.message;
  }
})();
