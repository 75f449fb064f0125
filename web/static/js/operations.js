// Operations per image: multiplications, additions and the energy estimate of every layer, as
// the model runs it (its winograd row where it has one, else its spatial row). Adder layers
// (AdderNet, Winograd AdderNet) show 0 multiplications beside ordinary layers' counts. The
// worker's figures: winoprune.pruning.operations (fp32 add 0.9 pJ, mult 3.7 pJ, Horowitz 2014).
import { stagesWithLayers } from "./results.js";
import { fmtInt, h } from "./util.js";

const has = (value) => value !== null && value !== undefined;

// How a row's layer computes: adder rows have no direct-convolution products (mult_direct 0).
function kindOf(r) {
  const adder = r.mult_direct === 0 && has(r.additions) && r.additions > 0;
  if (r.domain === "winograd") return adder ? "Winograd adder" : "Winograd";
  return adder ? "adder" : "direct";
}

// Per layer at the stage's last epoch: {layer, domain, multiplications, additions, energy_pj}.
export function operationRows(records, stage) {
  const epoch = (stagesWithLayers(records).find((s) => s.stage === stage) || {}).epoch;
  const chosen = new Map();
  for (const r of records) {
    if (r.stage !== stage || r.epoch !== epoch) continue;
    if (!chosen.has(r.layer) || r.domain === "winograd") chosen.set(r.layer, r);
  }
  return [...chosen.values()].map((r) => ({ layer: r.layer, domain: r.domain, kind: kindOf(r), multiplications: r.multiplications, additions: r.additions ?? null, energy_pj: r.energy_pj ?? null }));
}

// Sums over the rows (null when a row has no count).
export function operationTotals(rows) {
  const sum = (key) => (!rows.length || rows.some((r) => !has(r[key])) ? null : rows.reduce((t, r) => t + r[key], 0));
  return { multiplications: sum("multiplications"), additions: sum("additions"), energy_pj: sum("energy_pj") };
}

const nanojoules = (pj) => (has(pj) ? (pj / 1000).toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 }) : "—");

function row(label, r, header = "th") {
  return h("tr", { "data-layer": label },
    h(header, { scope: "row" }, label), h("td", { "data-col": "kind" }, r.kind || ""),
    h("td", { "data-col": "multiplications" }, fmtInt(r.multiplications)),
    h("td", { "data-col": "additions" }, fmtInt(r.additions)),
    h("td", { "data-col": "energy" }, nanojoules(r.energy_pj)));
}

// Fills the operations table; returns false when no row carries counts (older runs).
export function renderOperations(tbody, rows) {
  if (!rows.some((r) => has(r.additions))) return false;
  tbody.replaceChildren(...rows.map((r) => row(r.layer, r)), row("total", { ...operationTotals(rows), kind: "" }));
  return true;
}

// Compare page: one row per run with its totals at its last stage (`run.ops`).
export function renderCompareOperations(tbody, runs) {
  tbody.replaceChildren(...runs.map((r) => h("tr", { "data-run-id": r.run.id },
    h("th", { scope: "row" }, h("a", { href: `/runs/${r.run.id}` }, r.label)), h("td", {}, r.run.model),
    h("td", { "data-col": "multiplications" }, fmtInt(r.ops.multiplications)),
    h("td", { "data-col": "additions" }, fmtInt(r.ops.additions)),
    h("td", { "data-col": "energy" }, nanojoules(r.ops.energy_pj)))));
}
