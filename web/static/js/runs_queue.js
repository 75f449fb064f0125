// Runs list additions (issue 16): queue position and ETA beside the status of active runs, an
// "archived" badge, and the toggle that shows archived runs (URL parameter archived=1).
import { api } from "./api.js";
import { $, fmtDuration, h, mainData, setUrlParams, urlParams } from "./util.js";

const project = Number(mainData().project);
const tbody = $("#runs-table tbody");
const toggle = $("#show-archived");

export function queueNote(item) {
  const parts = [];
  if (item.queue_position) parts.push(`#${item.queue_position} in queue`);
  if (item.eta_s !== null && item.eta_s !== undefined) parts.push(`ETA ${fmtDuration(item.eta_s)}`);
  return parts.join(" · ");
}

async function decorate() {
  for (const tr of tbody.querySelectorAll("tr[data-archived='1'] .status-cell")) {
    if (!tr.querySelector(".badge-archived")) tr.append(" ", h("span", { class: "badge badge-archived" }, "archived"));
  }
  const active = tbody.querySelectorAll("tr[data-status='queued'], tr[data-status='running']");
  if (!active.length) return;
  const queue = new Map((await api.queue(project)).map((item) => [item.id, item]));
  for (const tr of active) {
    const item = queue.get(Number(tr.dataset.runId));
    const cell = tr.querySelector(".status-cell");
    cell.querySelector(".queue-note")?.remove();
    const text = item ? queueNote(item) : "";
    if (text) cell.append(h("span", { class: "queue-note hint", "data-testid": "queue-note" }, text));
  }
  tbody.dataset.queue = String(Date.now());
}

if (tbody && project) {
  new MutationObserver(() => decorate().catch(() => {})).observe(tbody, { attributes: true, attributeFilter: ["data-loaded"] });
  // the list may have loaded before this module ran: decorate what is there now, not in 15 s
  if (tbody.dataset.loaded) decorate().catch(() => {});
  setInterval(() => decorate().catch(() => {}), 15000); // ETAs move with every epoch
}
if (toggle) {
  toggle.checked = urlParams().get("archived") === "1";
  toggle.addEventListener("change", () => {
    setUrlParams({ archived: toggle.checked ? "1" : "", cursor: "" }, { push: true });
    window.dispatchEvent(new PopStateEvent("popstate")); // runs.js reloads from the URL
  });
}
