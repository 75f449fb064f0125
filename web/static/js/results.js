// Shapes the API's columnar results into what the charts draw. Pure functions, no DOM.

export const ACCURACY_KEYS = ["top1", "accuracy", "val_accuracy"];
export const LOSS_KEYS = ["test_loss", "loss", "val_loss"];

const firstKey = (values, keys) => keys.find((key) => key in values) || null;

// Columnar metrics {stage, epoch, values: {key: [...]}} merged with a newer batch (same shape).
// Points are keyed by (stage, epoch); a null in the newer batch keeps the older value.
export function mergeMetrics(base, update) {
  const points = new Map();
  const add = (columns) => {
    if (!columns) return;
    columns.stage.forEach((stage, i) => {
      const key = `${stage}:${columns.epoch[i]}`;
      const point = points.get(key) || { stage, epoch: columns.epoch[i], values: {} };
      for (const [name, column] of Object.entries(columns.values)) {
        if (column[i] !== null && column[i] !== undefined) point.values[name] = column[i];
      }
      points.set(key, point);
    });
  };
  add(base);
  add(update);
  const sorted = [...points.values()].sort((a, b) => a.stage - b.stage || a.epoch - b.epoch);
  const names = new Set(sorted.flatMap((p) => Object.keys(p.values)));
  const values = {};
  for (const name of names) values[name] = sorted.map((p) => (name in p.values ? p.values[name] : null));
  return {
    stage: sorted.map((p) => p.stage),
    epoch: sorted.map((p) => p.epoch),
    values,
    cursor: Math.max(base ? base.cursor || 0 : 0, update ? update.cursor || 0 : 0),
  };
}

// The accuracy/loss series over all stages: x counts points in (stage, epoch) order.
export function trainingSeries(metrics) {
  const accuracyKey = firstKey(metrics.values, ACCURACY_KEYS);
  const lossKey = firstKey(metrics.values, LOSS_KEYS);
  const x = metrics.stage.map((_, i) => i);
  const boundaries = [];
  metrics.stage.forEach((stage, i) => {
    if (i === 0 || stage !== metrics.stage[i - 1]) boundaries.push({ x: i, stage });
  });
  return {
    x,
    labels: metrics.stage.map((stage, i) => `${stage === -1 ? "pretrain" : `stage ${stage}`} · epoch ${metrics.epoch[i]}`),
    accuracy: accuracyKey ? metrics.values[accuracyKey] : [],
    trainAccuracy: metrics.values.train_top1 || null,
    loss: lossKey ? metrics.values[lossKey] : [],
    boundaries,
  };
}

// Layer rows {stage, epoch, layer, domain, numel, nnz, sparsity, multiplications} from columns.
export function layerRecords(columns) {
  return columns.layer.map((layer, i) => ({
    stage: columns.stage[i], epoch: columns.epoch[i], layer, domain: columns.domain[i],
    numel: columns.numel[i], nnz: columns.nnz[i], sparsity: columns.sparsity[i],
    multiplications: columns.multiplications[i],
    // derived by the API: the layer's direct cost, and on winograd rows direct / sparse Winograd
    mult_direct: columns.mult_direct ? columns.mult_direct[i] : null,
    mult_reduction: columns.mult_reduction ? columns.mult_reduction[i] : null,
    // Winograd-ReLU layers' winograd rows only (Liu et al.): nonzero share of the transformed
    // activations and the products per image with both factors nonzero; null elsewhere
    activation_density: columns.activation_density ? columns.activation_density[i] : null,
    mult_activation_sparse: columns.mult_activation_sparse ? columns.mult_activation_sparse[i] : null,
    // additions per image and the energy estimate, pJ (null for older rows and DWM layers)
    additions: columns.additions ? columns.additions[i] : null,
    energy_pj: columns.energy_pj ? columns.energy_pj[i] : null,
  }));
}

// Merge newer layer records into older ones (key: stage, epoch, layer, domain).
export function mergeLayers(base, update) {
  const rows = new Map(base.map((r) => [`${r.stage}:${r.epoch}:${r.layer}:${r.domain}`, r]));
  for (const r of update) rows.set(`${r.stage}:${r.epoch}:${r.layer}:${r.domain}`, r);
  return [...rows.values()];
}

// Stages with layer rows, ascending, and the last recorded epoch of each.
export function stagesWithLayers(records) {
  const last = new Map();
  for (const r of records) last.set(r.stage, Math.max(last.get(r.stage) ?? -Infinity, r.epoch));
  return [...last.entries()].sort((a, b) => a[0] - b[0]).map(([stage, epoch]) => ({ stage, epoch }));
}

// Layer names in first-seen (model) order.
export function layerOrder(records) {
  return [...new Set(records.map((r) => r.layer))];
}

// Per layer at the stage's last epoch: {layer, winograd, spatial} sparsities (null if absent).
export function layerSparsity(records, stage) {
  const epoch = (stagesWithLayers(records).find((s) => s.stage === stage) || {}).epoch;
  const rows = records.filter((r) => r.stage === stage && r.epoch === epoch);
  return layerOrder(rows).map((layer) => {
    const of = (domain) => rows.find((r) => r.layer === layer && r.domain === domain);
    return { layer, winograd: of("winograd")?.sparsity ?? null, spatial: of("spatial")?.sparsity ?? null };
  });
}

// Layer x stage matrix of Winograd sparsity at each stage's last epoch.
export function sparsityMatrix(records) {
  const stages = stagesWithLayers(records);
  const layers = layerOrder(records.filter((r) => r.domain === "winograd"));
  const z = layers.map((layer) => stages.map(({ stage, epoch }) => {
    const row = records.find((r) => r.stage === stage && r.epoch === epoch && r.layer === layer && r.domain === "winograd");
    return row ? row.sparsity : null;
  }));
  return { layers, stages: stages.map((s) => s.stage), z };
}

// Multiplications per image of each layer at a stage: direct (dense spatial conv), dense
// Winograd and sparse Winograd. From the API's rows: a "spatial" row's multiplications are the
// direct cost; a "winograd" row's are nnz(Q) * tiles (sparse), so dense = numel(Q) * tiles.
// Direct and dense costs do not change with pruning, so any stage's row of the layer serves.
export function multiplicationRows(records, stage) {
  const epoch = (stagesWithLayers(records).find((s) => s.stage === stage) || {}).epoch;
  const here = records.filter((r) => r.stage === stage && r.epoch === epoch);
  return layerOrder(here).map((layer) => {
    const all = records.filter((r) => r.layer === layer);
    const spatial = all.find((r) => r.domain === "spatial");
    const winograd = here.find((r) => r.layer === layer && r.domain === "winograd");
    // a layer with no spatial row (a Winograd-ReLU layer): the direct cost the API gives
    const direct = spatial ? spatial.multiplications : (winograd && winograd.mult_direct) ?? null;
    if (!winograd) return { layer, direct, dense: direct, sparse: direct, activation: direct, activationCounted: false };
    const counted = all.find((r) => r.domain === "winograd" && r.nnz > 0);
    const dense = counted ? (counted.numel * counted.multiplications) / counted.nnz : null;
    // weights x activations (Winograd-ReLU layers); other layers as their weight-only count
    const activationCounted = winograd.mult_activation_sparse !== null && winograd.mult_activation_sparse !== undefined;
    const activation = activationCounted ? winograd.mult_activation_sparse : winograd.multiplications;
    return { layer, direct, dense, sparse: winograd.multiplications, activation, activationCounted };
  });
}

// Totals of multiplicationRows; `activation` only when some layer has activation counts.
export function multiplicationTotals(rows) {
  const sum = (key) => (rows.some((r) => r[key] === null || r[key] === undefined) ? null : rows.reduce((total, r) => total + r[key], 0));
  const activation = rows.some((r) => r.activationCounted) ? sum("activation") : null;
  return { direct: sum("direct"), dense: sum("dense"), sparse: sum("sparse"), activation };
}

// Winograd-ReLU layers at a stage's last epoch: {layer, density, weightOnly, activation} with
// the weight-only (nnz(Q) * tiles) and the weights x activations multiplications per image.
// Empty for runs without Winograd-ReLU layers.
export function activationRows(records, stage) {
  const epoch = (stagesWithLayers(records).find((s) => s.stage === stage) || {}).epoch;
  return records
    .filter((r) => r.stage === stage && r.epoch === epoch && r.domain === "winograd" && r.activation_density !== null && r.activation_density !== undefined)
    .map((r) => ({ layer: r.layer, density: r.activation_density, weightOnly: r.multiplications, activation: r.mult_activation_sparse }));
}

// A metric's value at the stage's last epoch that has it (null if none).
export function stageMetric(metrics, stage, key) {
  const column = metrics && metrics.values[key];
  if (!column) return null;
  let value = null;
  metrics.stage.forEach((s, i) => { if (s === stage && column[i] !== null) value = column[i]; });
  return value;
}

// Multiplication reduction versus direct convolution of each Winograd layer at a stage's last
// epoch: direct / sparse Winograd multiplications, as the API derives it (null: not known, or a
// layer with no nonzero weight left).
export function layerReductions(records, stage) {
  const epoch = (stagesWithLayers(records).find((s) => s.stage === stage) || {}).epoch;
  const rows = records.filter((r) => r.stage === stage && r.epoch === epoch && r.domain === "winograd");
  // Winograd-ReLU layers also: direct / (nonzero weights x nonzero activations)
  return rows.map((r) => ({ layer: r.layer, reduction: r.mult_reduction ?? null, activationReduction: reductionOf(r.mult_direct ?? null, r.mult_activation_sparse) }));
}

// Direct / sparse multiplications, or null when either is missing or the sparse count is 0.
export const reductionOf = (direct, sparse) => (direct !== null && direct !== undefined && sparse ? direct / sparse : null);

// Overall reduction of a stage: the stage row's value, else the stage's last epoch's totals.
export function stageReduction(stage, metrics) {
  if (stage.mult_reduction !== null && stage.mult_reduction !== undefined) return stage.mult_reduction;
  const direct = metrics && metrics.values.mult_direct;
  const sparse = metrics && metrics.values.mult_winograd_sparse;
  if (!direct || !sparse) return null;
  let value = null;
  metrics.stage.forEach((s, i) => { if (s === stage.index && direct[i] !== null && sparse[i] !== null) value = reductionOf(direct[i], sparse[i]); });
  return value;
}

// Overall Winograd sparsity of a stage: the stage row's value, else the last epoch's metric.
export function stageSparsity(stage, metrics) {
  if (stage.sparsity !== null && stage.sparsity !== undefined) return stage.sparsity;
  const column = metrics && metrics.values.winograd_sparsity;
  if (!column) return null;
  let value = null;
  metrics.stage.forEach((s, i) => { if (s === stage.index && column[i] !== null) value = column[i]; });
  return value;
}

// Points not dominated by another point (higher sparsity and higher accuracy).
export function paretoFront(points) {
  return points.filter((p) => !points.some((q) => q !== p && q.sparsity >= p.sparsity && q.accuracy >= p.accuracy && (q.sparsity > p.sparsity || q.accuracy > p.accuracy)));
}

// Flattened "a.b.0.c" -> value of a JSON object (leaves only).
export function flatten(value, prefix = "", out = {}) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    if (!entries.length) out[prefix] = Array.isArray(value) ? "[]" : "{}";
    for (const [key, child] of entries) flatten(child, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out[prefix] = value;
  }
  return out;
}

// Rows {path, values: [...]} where the recipes differ.
export function recipeDiff(recipes) {
  const flat = recipes.map((r) => flatten(r));
  const paths = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  return paths
    .map((path) => ({ path, values: flat.map((f) => (path in f ? f[path] : undefined)) }))
    .filter((row) => row.values.some((v) => JSON.stringify(v) !== JSON.stringify(row.values[0])));
}
