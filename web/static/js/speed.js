// Measured speed of the run's exports (issue 18): the newest benchmark as one line beside the
// counted multiplication reduction, and a table of every benchmark; nothing when there is none.
import { fmtDate, fmtTimes, h, stageLabel } from "./util.js";

const ms = (value) => `${value.toPrecision(3)} ms`;

// "measured: 2.31× conv2d at batch 32, 2 threads (host, 2026-12-02)" (the day is UTC's).
export function speedLine(m) {
  return `measured: ${fmtTimes(m.speedup)} conv2d at batch ${m.batch}, ${m.threads} thread${m.threads === 1 ? "" : "s"} (${m.machine}, ${m.measured_at.slice(0, 10)})`;
}

// "stage 1" over the checkpoint's file name (either alone when the other is unknown).
function checkpointCell(m) {
  const stage = m.stage === null || m.stage === undefined ? null : stageLabel(m.stage);
  if (!m.checkpoint) return h("td", {}, stage || "—");
  return h("td", {}, stage, stage ? h("br") : null, h("span", { class: "muted" }, m.checkpoint));
}

// "2026-12-01 10:00" in UTC (the column says so): short, and the same day as the line.
const utcMinute = (iso) => new Date(iso).toISOString().slice(0, 16).replace("T", " ");

// `measurements` newest first, as GET /runs/{id}/speed lists them; the speed-up comes first
// (on a phone the table scrolls sideways).
export function renderSpeed(line, card, tbody, measurements) {
  const shown = measurements.length > 0;
  line.hidden = card.hidden = !shown;
  line.textContent = shown ? speedLine(measurements[0]) : "";
  tbody.replaceChildren(...measurements.map((m) => h("tr", { "data-speed-id": m.id },
    h("td", { class: "num", "data-col": "speedup" }, fmtTimes(m.speedup)),
    h("td", { class: "num" }, ms(m.conv2d_ms)), h("td", { class: "num" }, ms(m.export_ms)),
    h("td", { class: "num" }, m.batch), h("td", { class: "num" }, m.threads),
    h("td", { title: [m.cpu, m.torch ? `torch ${m.torch}` : null].filter(Boolean).join(", ") }, m.machine),
    checkpointCell(m),
    h("td", { class: "num" }, h("time", { datetime: m.measured_at, title: fmtDate(m.measured_at) }, utcMinute(m.measured_at))))));
}
