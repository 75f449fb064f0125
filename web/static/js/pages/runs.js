// Runs table: filters, sorting and the page cursor live in the URL; rows update live.
import { allRuns, api, follow } from "../api.js";
import { progressFraction, progressText } from "../progress.js";
import { $, $$, badge, debounce, fmtDate, fmtPct, fmtTimes, h, liveStatus, mainData, setUrlParams, urlParams } from "../util.js";

const FILTERS = ["q", "method", "model", "dataset", "tile", "tag", "owner"];
const project = Number(mainData().project);
const form = $("#run-filters");
const tbody = $("#runs-table tbody");
const details = new Map(); // run id -> detail (recipe) for the progress bars of running runs
let nextCursor = null;

function readState() {
  const params = urlParams();
  return {
    status: params.getAll("status"),
    filter: params.getAll("filter"), // metric filters, e.g. top1>=0.7 (GET /runs' grammar)
    external: params.get("external") || "",
    ...Object.fromEntries(FILTERS.map((key) => [key, params.get(key) || ""])),
    sort: params.get("sort") || "created",
    order: params.get("order") || "desc",
    cursor: params.get("cursor") || "",
    limit: params.get("limit") || "50",
  };
}

function fillForm(state) {
  for (const box of $$("input[name=status]", form)) box.checked = state.status.includes(box.value);
  for (const key of FILTERS) form.elements[key].value = state[key];
  form.elements.filter.value = state.filter.join(" ");
  form.elements.external.value = state.external;
  $("#page-size").value = state.limit;
  for (const th of $$("th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === state.sort ? (state.order === "asc" ? "ascending" : "descending") : "none");
  }
}

function progressCell(run) {
  const fraction = progressFraction(details.get(run.id) || run);
  const bar = h("div", { class: "progress small", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(100 * fraction), "aria-label": `Run ${run.id} progress` }, h("span", { style: `width:${(100 * fraction).toFixed(1)}%` }));
  return h("td", { class: "progress-cell" }, h("span", { class: "progress-text" }, progressText(run)), bar);
}

function row(run) {
  return h("tr", { "data-run-id": run.id, "data-status": run.status, "data-archived": run.archived_at ? "1" : null },
    h("td", {}, h("input", { type: "checkbox", class: "pick", value: run.id, "aria-label": `Select run ${run.id} for comparison` })),
    h("td", {}, h("a", { href: `/runs/${run.id}` }, `#${run.id} ${run.name}`),
      run.external ? [" ", h("span", { class: "badge badge-external", title: "External run: made outside the workers, published through the tracking API" }, "external")] : null),
    h("td", { class: "status-cell" }, badge(run.status)),
    progressCell(run),
    h("td", { class: "top1-cell" }, fmtPct(run.final?.top1 ?? null)),
    h("td", { class: "sparsity-cell" }, fmtPct(run.final?.winograd_sparsity ?? null)),
    h("td", { class: "reduction-cell" }, fmtTimes(run.mult_reduction ?? null)),
    h("td", { class: "loss-cell" }, run.final?.loss == null ? "—" : run.final.loss.toFixed(4)),
    h("td", {}, run.method), h("td", {}, run.model), h("td", { class: "tile-cell" }, run.tile || "—"), h("td", {}, run.dataset),
    h("td", {}, run.tags.map((tag) => h("span", { class: "tag" }, tag))),
    h("td", {}, run.owner || "—"),
    h("td", {}, fmtDate(run.created_at)), h("td", {}, fmtDate(run.updated_at)));
}

async function loadDetails(runs) {
  const running = runs.filter((run) => run.status === "running" && !details.has(run.id));
  await Promise.all(running.map(async (run) => details.set(run.id, await api.run(run.id))));
}

async function load() {
  const state = readState();
  fillForm(state);
  const params = { project, status: state.status, sort: state.sort, order: state.order, limit: state.limit, cursor: state.cursor };
  for (const key of FILTERS) params[key] = state[key];
  params.filter = state.filter;
  params.external = state.external;
  if (urlParams().get("archived") === "1") params.archived = true; // runs_queue.js' toggle
  try {
    const page = await api.runs(params);
    await loadDetails(page.items);
    tbody.replaceChildren(...page.items.map(row));
    $("#runs-empty").hidden = page.items.length > 0;
    nextCursor = page.next_cursor;
    $("#page-next").disabled = !nextCursor;
    $("#page-prev").disabled = !state.cursor;
    $("#page-first").disabled = !state.cursor;
    tbody.dataset.loaded = String(Date.now());
    updateCompareButton();
  } catch (error) {
    tbody.replaceChildren(h("tr", {}, h("td", { colspan: 16, class: "field-error" }, error.message)));
  }
}

const reload = debounce(load, 300);

function updateProgress(runId, stage, epoch) {
  const tr = tbody.querySelector(`tr[data-run-id="${runId}"]`);
  if (!tr) return;
  const known = details.get(runId);
  const run = { id: runId, status: tr.dataset.status, progress: { stage, epoch }, recipe: known && known.recipe };
  if (known) known.progress = run.progress;
  tr.querySelector(".progress-cell").replaceWith(progressCell(run));
}

function onEvents(events) {
  for (const event of events) {
    if (event.kind === "run.progress") updateProgress(event.run_id, event.data.stage, event.data.epoch);
    else if (event.kind !== "metrics" && event.kind !== "layers") {
      details.delete(event.run_id);
      reload();
    }
  }
}

function updateCompareButton() {
  const picked = $$("input.pick:checked", tbody).map((box) => box.value);
  const button = $("#compare-selected");
  button.disabled = picked.length < 2;
  button.dataset.runs = picked.join(",");
}

async function fillDatalists() {
  const runs = await allRuns({ project }, 2);
  for (const key of ["method", "model", "dataset", "tile", "owner"]) {
    const values = [...new Set(runs.map((run) => run[key]).filter(Boolean))].sort();
    $(`#filter-${key}-list`).replaceChildren(...values.map((value) => h("option", { value })));
  }
  const tags = [...new Set(runs.flatMap((run) => run.tags))].sort();
  $("#filter-tag-list").replaceChildren(...tags.map((value) => h("option", { value })));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const changes = { status: $$("input[name=status]:checked", form).map((box) => box.value), cursor: "" };
  for (const key of FILTERS) changes[key] = form.elements[key].value.trim();
  changes.filter = form.elements.filter.value.split(/[\s,]+/).filter(Boolean);
  changes.external = form.elements.external.value;
  setUrlParams(changes, { push: true });
  load();
});
form.addEventListener("reset", () => {
  setTimeout(() => {
    setUrlParams({ status: [], filter: [], external: "", ...Object.fromEntries(FILTERS.map((key) => [key, ""])), cursor: "" }, { push: true });
    load();
  });
});
for (const th of $$("th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => {
    const state = readState();
    const order = state.sort === th.dataset.sort && state.order === "desc" ? "asc" : "desc";
    setUrlParams({ sort: th.dataset.sort, order, cursor: "" }, { push: true });
    load();
  });
}
$("#page-next").addEventListener("click", () => { setUrlParams({ cursor: nextCursor }, { push: true }); load(); });
$("#page-prev").addEventListener("click", () => history.back());
$("#page-first").addEventListener("click", () => { setUrlParams({ cursor: "" }, { push: true }); load(); });
$("#page-size").addEventListener("change", (event) => { setUrlParams({ limit: event.target.value, cursor: "" }, { push: true }); load(); });
tbody.addEventListener("change", updateCompareButton);
$("#compare-selected").addEventListener("click", (event) => location.assign(`/compare?runs=${event.target.dataset.runs}`));
window.addEventListener("popstate", load);

(async () => {
  const start = await api.projectChanges(project, 0).catch(() => ({ cursor: 0 }));
  await load();
  follow({
    streamUrl: (after) => api.projectEventsUrl(project, after),
    poll: (after) => api.projectChanges(project, after),
    after: await latestCursor(start),
    onEvents,
    onMode: liveStatus,
  });
  fillDatalists().catch(() => {});
})();

// The newest notice id of the project (the changes endpoint pages 500 at a time).
async function latestCursor(first) {
  let result = first;
  while (result.events && result.events.length >= 500) result = await api.projectChanges(project, result.cursor);
  return result.cursor || 0;
}
