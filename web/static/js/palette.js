// One stable colour per name (a method, a run, a tile, ...) on every chart and page: the colour
// is a hash of the name into a fixed palette, so it never depends on which others are shown.
export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f", "#b45309", "#4f46e5", "#0f766e", "#c026d3"];

// FNV-1a over the UTF-16 code units: small, fast, and the same in every browser.
export function hashName(name) {
  let hash = 0x811c9dc5;
  const text = String(name);
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export const colorFor = (name) => PALETTE[hashName(name) % PALETTE.length];
// The recipe's methods (winoprune/recipes/fields.py Method) get fixed, distinct colours;
// any other name falls back to the hash.
const METHOD_COLORS = {
  "spatial-winograd": PALETTE[0], "native-winograd": PALETTE[1], "spatial-structured": PALETTE[2],
  "spatial-unstructured": PALETTE[3], "winograd-relu": PALETTE[4], dense: "#475569",
};
export const methodColor = (method) => METHOD_COLORS[method] || colorFor(`method:${method}`);
export const runColor = (runId) => colorFor(`run:${runId}`);
