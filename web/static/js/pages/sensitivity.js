// One sensitivity scan: curves filling in live (the scan's change notices over SSE, polling
// `changes?after=` only as the fallback, as on the run page; each notice fetches the points after
// the last id), the table, exports, cancel/resume, and the Allocate form that opens the New-run
// form.
import { SCAN_EVENT_KINDS, api, follow } from "../api.js";
import { allocationChart, sensitivityChart } from "../sensitivity_charts.js";
import { $, badge, flash, h, liveStatus, mainData } from "../util.js";

const scanId = Number(mainData().scanId);
const role = mainData().role;
let scan = null;
let points = [];
let after = 0;
let loading = null; // the load in progress
let again = false; // a notice came during it: load once more

function layersOf() {
  return (scan.layers || []).map((l) => l.name);
}

function render() {
  $("#scan-name").textContent = `${scan.name} (#${scan.id})`;
  $("#scan-status").replaceWith(Object.assign(badge(scan.status), { id: "scan-status" }));
  $("#scan-status").dataset.testid = "scan-status";
  const total = scan.points_total || 0;
  const pct = total ? Math.round((100 * points.length) / total) : 0;
  const bar = $("#scan-progress");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.firstElementChild.style.width = `${pct}%`;
  const base = scan.baseline ? `baseline accuracy ${(100 * scan.baseline.accuracy).toFixed(1)} %` : "baseline pending";
  const source = scan.source === "run" ? `run ${scan.run_id} stage ${scan.stage}` : scan.source === "artifact" ? `artifact ${scan.artifact_id}` : "recipe";
  const attempt = scan.attempt_count > 1 ? `; attempt ${scan.attempt_count}` : "";
  $("#scan-summary").textContent = `${scan.method} from ${source}; ${points.length} of ${total || "?"} points; ${base}${attempt}${scan.error ? `; ${scan.error}` : ""}`;
  const editor = role === "editor" || role === "owner";
  $("#btn-scan-cancel").hidden = !editor || !["queued", "running"].includes(scan.status);
  $("#btn-scan-resume").hidden = !editor || scan.status === "succeeded";
  if (!points.length) return;
  sensitivityChart($("#chart-sens-sparsity"), layersOf(), points, scan.baseline, "sparsity", "Winograd-domain sparsity");
  sensitivityChart($("#chart-sens-mults"), layersOf(), points, scan.baseline, "mult_saved", "multiplications saved per image");
}

function addRows(rows) {
  const body = $("#points-table tbody");
  for (const p of rows) {
    body.append(h("tr", {}, h("td", {}, p.layer), h("td", {}, p.target.toFixed(2)), h("td", {}, p.sparsity.toFixed(4)), h("td", {}, `${(100 * p.accuracy).toFixed(2)} %`), h("td", {}, p.loss.toFixed(4)), h("td", {}, String(p.multiplications)), h("td", {}, String(p.mult_saved))));
  }
}

async function loadOnce() {
  scan = await api.scan(scanId);
  for (;;) {
    const page = await api.scanPoints(scanId, after);
    if (!page.items.length) break;
    points = points.concat(page.items);
    addRows(page.items);
    after = page.next;
  }
  render();
  $("#main").dataset.ready = ["queued", "running"].includes(scan.status) ? "" : "1";
}

// The scan and its new points, at once (no timer): notices that come during a load are
// answered by one more load when it ends.
function load() {
  if (loading) {
    again = true;
    return loading;
  }
  loading = (async () => {
    do {
      again = false;
      try {
        await loadOnce();
      } catch (error) {
        flash(error.message, "error");
      }
    } while (again);
    loading = null;
  })();
  return loading;
}

// The newest notice id of the scan: the stream starts after it.
async function latestCursor() {
  let cursor = 0;
  for (;;) {
    const result = await api.scanChanges(scanId, cursor);
    cursor = result.cursor;
    if (result.events.length < 500) return cursor;
  }
}

async function allocate(event) {
  event.preventDefault();
  $("#alloc-errors").textContent = "";
  try {
    const result = await api.allocate(scanId, Number($("#alloc-target").value), $("#alloc-budget").value);
    const body = $("#alloc-table tbody");
    body.replaceChildren(...Object.entries(result.targets).map(([layer, s]) => h("tr", {}, h("td", {}, layer), h("td", {}, `${(100 * s).toFixed(0)} %`))));
    $("#alloc-summary").textContent = `reaches ${(100 * result.achieved).toFixed(1)} %; predicted accuracy ${(100 * result.predicted_accuracy).toFixed(1)} %, loss ${result.predicted_loss.toFixed(4)}`;
    allocationChart($("#chart-alloc"), result.curve, result);
    const link = $("#alloc-new-run");
    const params = new URLSearchParams({ scan: String(scanId), overrides: JSON.stringify(result.overrides) });
    if (scan.project_id) params.set("project", String(scan.project_id));
    link.href = `/runs/new?${params}`;
    link.hidden = false;
  } catch (error) {
    $("#alloc-errors").textContent = error.message;
  }
}

$("#export-csv").href = api.scanExportUrl(scanId, "csv");
$("#export-json").href = api.scanExportUrl(scanId, "json");
$("#alloc-form").addEventListener("submit", allocate);
$("#btn-scan-cancel").addEventListener("click", async () => {
  scan = await api.cancelScan(scanId);
  render();
});
$("#btn-scan-resume").addEventListener("click", async () => {
  scan = await api.resumeScan(scanId);
  render();
});
(async () => {
  let cursor = 0;
  try {
    cursor = await latestCursor();
  } catch (error) {
    flash(error.message, "error");
    return;
  }
  await load();
  follow({ streamUrl: (from) => api.scanEventsUrl(scanId, from), poll: (from) => api.scanChanges(scanId, from), after: cursor, onEvents: () => load(), onMode: liveStatus, kinds: SCAN_EVENT_KINDS });
})();
