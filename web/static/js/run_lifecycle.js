// The run page's lifecycle panel: status badge (with "cancelling"), the outcome banner, queue
// position and ETA, Retry (continue / restart) and confirmations saying what will be lost,
// notes and tags (editable), archive and delete, and the worker's system figures.
import { api } from "./api.js";
import { fmtDuration, h, stageLabel } from "./util.js";

// A modal question; resolves true when the user confirms.
export function confirmAction({ title, message, confirm, danger = false }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm-dialog", "aria-labelledby": "confirm-title" });
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    dialog.append(
      h("h2", { id: "confirm-title" }, title),
      h("p", { class: "confirm-message" }, message),
      h("div", { class: "actions" },
        h("button", { type: "button", class: danger ? "btn-danger" : "btn-primary", onclick: () => done(true) }, confirm),
        h("button", { type: "button", onclick: () => done(false) }, "Go back")));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// "cancelling" while a cancel request waits for the worker to stop.
export function shownStatus(run) {
  return run.cancel_requested && run.status === "running" ? "cancelling" : run.status;
}

const where = (run) => {
  const { stage, epoch } = run.progress || {};
  if (stage === null || stage === undefined) return "before it started";
  return epoch === null || epoch === undefined ? `in ${stageLabel(stage)}` : `in ${stageLabel(stage)} at epoch ${epoch}`;
};

const unfinished = (run) => run.stages.find((s) => s.status !== "succeeded") || null;

// The outcome of a finished-early run as a banner: the failure reason, or where it was cancelled.
export function renderBanner(box, run) {
  box.hidden = true;
  box.className = "run-banner";
  if (run.status === "failed") {
    box.classList.add("run-banner-error");
    box.replaceChildren(h("strong", {}, "This run failed "), `${where(run)}: `, h("span", { "data-testid": "failure-reason" }, run.error || "no reason recorded"));
    box.hidden = false;
  } else if (run.status === "cancelled") {
    const stage = unfinished(run);
    const next = stage ? ` Retry continues ${stageLabel(stage.index)} from its latest checkpoint, or restarts it.` : "";
    box.replaceChildren(h("strong", {}, "Cancelled on request "), `${where(run)}.${next}`);
    box.hidden = false;
  } else if (run.cancel_requested && run.status === "running") {
    box.replaceChildren(h("strong", {}, "Cancelling: "), `the worker stops ${where(run)} after saving a checkpoint.`);
    box.hidden = false;
  }
}

export function queueText(run) {
  const parts = [];
  if (run.status === "queued" && run.queue_position) parts.push(`position ${run.queue_position} in the queue`);
  if (run.eta_s !== null && run.eta_s !== undefined) {
    parts.push(`about ${fmtDuration(run.eta_s)} of training left (${run.epoch_s.toFixed(2)} s per epoch measured)`);
  } else if (run.status === "queued" || run.status === "running") parts.push("ETA: no epoch time measured yet");
  return parts.join(" · ");
}

// Retry labels name the stage each choice acts on.
export function renderRetry(continueBtn, restartBtn, run, canEdit) {
  const show = canEdit && ["failed", "cancelled"].includes(run.status);
  continueBtn.hidden = restartBtn.hidden = !show;
  const stage = unfinished(run);
  if (!show || !stage) return;
  continueBtn.textContent = "Retry: continue from the latest checkpoint";
  restartBtn.textContent = `Retry: restart ${stageLabel(stage.index)}`;
  restartBtn.dataset.stage = String(stage.index);
}

// What resuming from `index` replaces (the results of that stage and the later ones).
export function resumeLoss(run, index) {
  const later = run.stages.filter((s) => s.index >= index && s.status !== "queued").map((s) => stageLabel(s.index));
  const lost = later.length ? later.join(", ") : "nothing stored yet";
  return `Resuming from ${stageLabel(index)} deletes the results, layer statistics and checkpoints of: ${lost}. They are recomputed by training again.`;
}

export function cancelLoss(run) {
  if (run.status === "queued") return "The run has not started: it is taken off the queue.";
  return `Training stops ${where(run)} after saving a checkpoint; Retry can continue from it later.`;
}

export function renderNotes(section, run, canEdit) {
  const notes = section.querySelector("#run-notes-text");
  notes.textContent = run.notes || "No notes.";
  notes.classList.toggle("muted", !run.notes);
  section.querySelector("#run-tags").replaceChildren(...(run.tags.length ? run.tags.map((t) => h("span", { class: "tag" }, t)) : [h("span", { class: "muted" }, "no tags")]));
  section.querySelector("#btn-edit-notes").hidden = !canEdit;
}

export function openNotesEditor(section, run) {
  const form = section.querySelector("#notes-form");
  form.hidden = false;
  form.elements.notes.value = run.notes || "";
  form.elements.tags.value = run.tags.join(", ");
  form.elements.notes.focus();
}

export async function saveNotes(form, runId) {
  const tags = form.elements.tags.value.split(/[\s,]+/).filter(Boolean);
  return api.patchRun(runId, { notes: form.elements.notes.value, tags });
}

const SYSTEM_FIELDS = [
  ["device", "Device", (v) => v],
  ["epoch_s", "Epoch time (mean)", (v) => `${v.toFixed(2)} s`],
  ["last_epoch_s", "Last epoch", (v) => `${v.toFixed(2)} s`],
  ["cpu_pct", "CPU use (of one core)", (v) => `${v.toFixed(0)} %`],
  ["rss_mib", "Memory (resident)", (v) => `${v.toFixed(0)} MiB`],
  ["gpu_util_pct", "GPU use", (v) => `${v.toFixed(0)} %`],
  ["gpu_mem_mib", "GPU memory", (v) => `${v.toFixed(0)} MiB`],
];

export function renderSystem(tbody, run) {
  const system = run.system || {};
  const rows = SYSTEM_FIELDS.filter(([key]) => system[key] !== undefined && system[key] !== null)
    .map(([key, label, fmt]) => h("tr", { "data-figure": key }, h("th", { scope: "row" }, label), h("td", {}, fmt(system[key]))));
  tbody.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { class: "muted", colspan: 2 }, "No figures yet: the worker reports them at every epoch."))]));
}
