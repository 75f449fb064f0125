// Labels shared by charts and tables.
export const stageLabel = (index) => (index === -1 ? "pretrain" : `stage ${index}`);
// A recipe's tile is a name ("F(4,3)") or a mapping {m, r, points, ...} (recipes/tile.py).
export const tileName = (tile) => (tile && typeof tile === "object" ? `F(${tile.m},${tile.r})` : tile);
