"""The winograd-relu method end to end on digits: Liu et al.'s pruning through the pipeline, the
activation-skipping multiplication count against an independent count, and resuming."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from winoprune.pruning.wrelu import kept_entries
from winoprune.recipes import load_recipe
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.winograd.relu import WinogradReLUConv2d

ROOT = Path(__file__).resolve().parents[3]


class Recorder(Callbacks):
    def __init__(self) -> None:
        self.reports: list[EpochReport] = []

    def on_epoch(self, report: EpochReport) -> None:
        self.reports.append(report)


def tiny_recipe():
    """digits-wrelu cut to 1 pretraining epoch, 2 pruning stages of 1 epoch, 512 images."""
    recipe = load_recipe(ROOT / "recipes" / "digits-wrelu.yaml")
    stages = [s.model_copy(update={"epochs": 1}) for s in recipe.stages[::3]]
    pretrain = recipe.pretrain.model_copy(update={"epochs": 1})
    data = recipe.data.model_copy(update={"train_subset": 512})
    return recipe.model_copy(update={"stages": stages, "pretrain": pretrain, "data": data})


# a float32 entry within this band of 0 may come out either side of it or exactly 0: sums that
# cancel mathematically (equal grey-level differences) leave residues of one ulp
AMBIGUOUS = 1e-5


def independent_count(pipe: Pipeline) -> dict[str, tuple[float, float, float, float]]:
    """Per Winograd-ReLU layer, bounds (low, high) on the products with both factors nonzero per
    image and on the density of V+ over the test set, from the layers' captured inputs with
    F.unfold and float64 transforms: low counts the entries surely nonzero, high also those
    within AMBIGUOUS of 0 but not 0 (float32 rounding decides those)."""
    layers = {n: m for n, m in pipe.model.named_modules() if isinstance(m, WinogradReLUConv2d)}
    inputs: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    handles = [
        m.register_forward_pre_hook(lambda _m, args, n=n: inputs[n].append(args[0].double()))
        for n, m in layers.items()
    ]
    pipe.model.eval()
    with torch.no_grad():
        for x, _ in pipe.test_loader:
            pipe.model(x)
    for handle in handles:
        handle.remove()
    result = {}
    for name, layer in layers.items():
        tf, pad = layer.transform, layer.padding
        m, a = tf.m, tf.alpha
        x = torch.cat(inputs[name])
        n, c, h, w = x.shape
        th, tw = -(-(h + 2 * pad - 2) // m), -(-(w + 2 * pad - 2) // m)
        xp = F.pad(x, (pad, tw * m + 2 - w - pad, pad, th * m + 2 - h - pad))
        d = F.unfold(xp, a, stride=m).view(n, c, a, a, th * tw)
        # rows then columns, in float64: exact cancellations (constant background) give 0
        v = torch.einsum("jq,nciql->ncijl", tf.BT, torch.einsum("ip,ncpql->nciql", tf.BT, d))
        surely = v > AMBIGUOUS if layer.activation == "relu" else v.abs() > AMBIGUOUS
        maybe = surely | ((v.abs() <= AMBIGUOUS) & (v != 0))
        per_k = (layer.weight.detach() != 0).sum(dim=0).double()  # (C, a, a)
        bounds = []
        for nonzero in (surely.double(), maybe.double()):
            bounds += [
                torch.einsum("ncijl,cij->", nonzero, per_k).item() / n,
                nonzero.mean().item(),
            ]
        result[name] = (bounds[0], bounds[2], bounds[1], bounds[3])
    return result


def test_winograd_relu_job_prunes_as_liu_et_al_and_counts_activation_skips(tmp_path):
    recipe = tiny_recipe()
    rec = Recorder()
    pipe = Pipeline(recipe, tmp_path, rec)
    assert pipe.run().status == "succeeded"
    assert [(r.stage, r.epoch) for r in rec.reports] == [(s, e) for s in (-1, 0, 1) for e in (0, 1)]
    layers = {n: m for n, m in pipe.model.named_modules() if isinstance(m, WinogradReLUConv2d)}
    assert len(layers) == 4
    for report in rec.reports:
        rows = {r.layer: r for r in report.layers if r.domain == "winograd"}
        assert set(rows) == set(layers)
        target = {-1: 0.0, 0: 0.3, 1: 0.6}[report.stage]
        for name, row in rows.items():
            # exactly int(numel * density) nonzero Q per layer, every layer the same density
            assert row.nnz == kept_entries(row.numel, target), (report.stage, name)
            assert row.activation_density is not None and 0.2 < row.activation_density < 1.0
            assert row.mult_activation_sparse is not None
            assert 0 < row.mult_activation_sparse < row.mult_winograd_sparse
        totals = report.summary
        assert totals["mult_activation_sparse"] == sum(
            r.mult_activation_sparse for r in rows.values()
        )
        assert (
            totals["activation_mult_reduction"]
            > totals["mult_direct"] / totals["mult_winograd_sparse"]
        )
    assert report.metrics["top1"] > 0.5
    # the first layer sees the image without an activation: its tiles are not rectified
    assert layers["features.conv0"].activation == "identity"
    assert rows["features.conv0"].activation_density > rows["features.conv1"].activation_density
    # the last report's counts, measured in evaluation, match an independent count
    for name, (low, high, low_density, high_density) in independent_count(pipe).items():
        # the row holds the per-image count rounded to an integer
        assert low - 0.5 <= rows[name].mult_activation_sparse <= high + 0.5, name
        assert low_density <= rows[name].activation_density <= high_density, name
        # thin: digits' 17 grey levels make equal differences that cancel up to one ulp
        assert high - low < 0.02 * low
    # masked entries stayed exactly zero, and the run resumes from its last checkpoint
    for key, mask in pipe.masks.items():
        assert torch.all(pipe.model.get_parameter(key)[mask] == 0)
    resumed = Recorder()
    again = Pipeline(recipe, tmp_path, resumed)
    assert again.run().status == "succeeded"
    assert resumed.reports == []  # every stage was done: restored, nothing retrained
    for key, value in pipe.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[key], value), key
