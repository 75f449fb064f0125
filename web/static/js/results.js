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
    const direct = spatial ? spatial.multiplications : null;
    if (!winograd) return { layer, direct, dense: direct, sparse: direct };
    const counted = all.find((r) => r.domain === "winograd" && r.nnz > 0);
    const dense = counted ? (counted.numel * counted.multiplications) / counted.nnz : null;
    return { layer, direct, dense, sparse: winograd.multiplications };
  });
}

export function multiplicationTotals(rows) {
  const sum = (key) => (rows.some((r) => r[key] === null) ? null : rows.reduce((total, r) => total + r[key], 0));
  return { direct: sum("direct"), dense: sum("dense"), sparse: sum("sparse") };
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
