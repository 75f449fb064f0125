// Labels shared by charts and tables.
export const stageLabel = (index) => (index === -1 ? "pretrain" : `stage ${index}`);
