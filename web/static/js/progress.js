// How far a run is: epochs done over epochs planned (pre-training plus every stage).
export function progressFraction(run) {
  if (run.status === "succeeded") return 1;
  const recipe = run.recipe;
  if (!recipe || run.progress.stage === null || run.progress.stage === undefined) return 0;
  const plan = [];
  if (recipe.pretrain) plan.push({ index: -1, epochs: recipe.pretrain.epochs });
  (recipe.stages || []).forEach((stage, index) => plan.push({ index, epochs: stage.epochs }));
  // each stage also evaluates once before training (epoch 0): count it as one step
  const total = plan.reduce((sum, s) => sum + s.epochs + 1, 0);
  let done = 0;
  for (const stage of plan) {
    if (stage.index < run.progress.stage) done += stage.epochs + 1;
    else if (stage.index === run.progress.stage) done += run.progress.epoch === null ? 0 : run.progress.epoch + 1;
  }
  return total ? Math.min(1, done / total) : 0;
}

export function progressText(run) {
  const { stage, epoch } = run.progress;
  if (run.status === "queued") return "queued";
  if (stage === null || stage === undefined) return run.status === "running" ? "starting" : "—";
  const where = stage === -1 ? "pretrain" : `stage ${stage}`;
  return epoch === null || epoch === undefined ? where : `${where} · epoch ${epoch}`;
}
