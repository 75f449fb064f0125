"""Stage 1, spatial structured pruning (paper-spec sections 2 and 8.3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.pruning import LayerPolicy, prune_model
from winoprune.pruning.bisection import (
    bisect_threshold,
    candidate_thresholds,
    threshold_for_scores,
)
from winoprune.pruning.spatial import (
    group_importance,
    prune_spatial_structured,
    spatial_groups,
    structured_mask,
)
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.transforms import standard_transform

F43 = standard_transform("F(4,3)")
F23 = standard_transform("F(2,3)")


def random_weight(seed: int, shape: tuple[int, ...] = (32, 32, 3, 3)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def winograd_zeros(w: torch.Tensor, tf) -> torch.Tensor:
    return to_winograd(w, tf) == 0


@pytest.mark.parametrize("tf", [F43, F23], ids=lambda t: t.name)
def test_groups_are_the_dependency_pattern_of_q_on_w(tf):
    """Q_ij depends on W_pq exactly when (p, q) is in S_ij (checked by the Jacobian)."""
    w = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda x: to_winograd(x, tf), w)
    depends = jac.reshape(tf.alpha, tf.alpha, 3, 3) != 0
    groups = spatial_groups(tf)
    assert torch.equal(groups.members[groups.position_group], depends)
    sizes = groups.members.sum(dim=(1, 2))[groups.position_group]
    counts = {n: int((sizes == n).sum()) for n in (1, 3, 9)}
    interior = (tf.alpha - 2) ** 2
    assert counts == {1: 4, 3: tf.alpha**2 - 4 - interior, 9: interior}


@pytest.mark.parametrize("tf", [F43, F23], ids=lambda t: t.name)
@pytest.mark.parametrize("target", [0.1, 0.3, 0.5, 0.65, 0.8])
def test_bisection_hits_the_winograd_target(tf, target):
    result = prune_spatial_structured(random_weight(0), tf, target)
    achieved = float(
        winograd_zeros(random_weight(0).masked_fill(result.mask, 0), tf).float().mean()
    )
    assert achieved == pytest.approx(result.sparsity)
    assert abs(achieved - target) < 1e-3
    assert result.iterations <= 100


def test_threshold_search_stops_at_the_smallest_threshold_past_a_jump():
    scores = torch.tensor([1.0, 1.0, 1.0, 1.0, 2.0, 3.0])
    mask, search = threshold_for_scores(scores, 0.5)
    assert mask.tolist() == [True] * 4 + [False] * 2
    assert search.sparsity == pytest.approx(4 / 6) and 1.0 < search.threshold <= 2.0
    few = bisect_threshold(lambda t: float(t > 1.5), candidate_thresholds(scores), 0.5, max_iter=2)
    assert few.iterations == 2 and few.sparsity == 1.0  # out of steps: a threshold that reaches


def test_zero_count_equals_union_of_groups_below_threshold():
    w = random_weight(1)
    groups = spatial_groups(F43)
    result = prune_spatial_structured(w, F43, 0.45)
    importance = group_importance(w, groups)  # (K, C, n_groups)
    pruned_groups = importance < result.threshold
    expected_zeros = int((pruned_groups.long() * groups.positions_per_group).sum())
    q_zeros = winograd_zeros(w.masked_fill(result.mask, 0), F43)
    assert int(q_zeros.sum()) == expected_zeros
    # and position by position: Q_kcij == 0 iff the group of (i, j) is pruned for (k, c)
    assert torch.equal(q_zeros, pruned_groups[:, :, groups.position_group])


def test_sparsity_saturates_at_20_of_36_while_kernels_survive():
    w = random_weight(2, (8, 8, 3, 3))
    w[:, :, 1, 1] = 10 + w[:, :, 1, 1].abs()  # centres dominate: no kernel can go below t < 10
    groups = spatial_groups(F43)
    importance = group_importance(w, groups)
    zero_counts = []
    for t in torch.linspace(0, 10, 41).tolist():
        mask = structured_mask(importance, groups, t)
        zero_counts.append(int(winograd_zeros(w.masked_fill(mask, 0), F43).sum()))
    kernels = 8 * 8
    assert max(zero_counts) == 20 * kernels  # 20 of 36 positions in every kernel, no more
    assert zero_counts == sorted(zero_counts)
    # the bisection cannot pass the saturation point without going above the centres
    result = prune_spatial_structured(w, F43, 20 / 36)
    assert result.threshold < 10 and result.sparsity == pytest.approx(20 / 36)


def test_high_targets_zero_whole_kernels():
    w = random_weight(3, (8, 8, 3, 3))
    w[:, :, 1, 1] = 10 + w[:, :, 1, 1].abs()
    result = prune_spatial_structured(w, F43, 0.7)
    whole_kernels = result.mask.flatten(2).all(dim=2)
    assert result.sparsity >= 0.7 - 1e-4
    assert whole_kernels.any()
    # the non-kernel zeros can contribute at most 20/36 per surviving kernel
    kernels_gone = whole_kernels.float().mean()
    assert result.sparsity <= kernels_gone + (1 - kernels_gone) * 20 / 36 + 1e-9


def test_masks_are_nested_across_stages():
    w = random_weight(4)
    first = prune_spatial_structured(w, F43, 0.3)
    # retraining moves the surviving weights; momentum has revived some pruned ones as well
    retrained = w + 0.3 * random_weight(5)
    second = prune_spatial_structured(retrained, F43, 0.5, previous=first.mask)
    assert (second.mask | ~first.mask).all()  # first ⊆ second
    assert second.sparsity >= 0.5 - 1e-4
    assert second.mask.sum() > first.mask.sum()


def test_zero_target_prunes_nothing_and_bad_targets_are_rejected():
    w = random_weight(6, (4, 4, 3, 3))
    assert not prune_spatial_structured(w, F43, 0.0).mask.any()
    with pytest.raises(ValueError, match=r"^target: must be in \[0, 1\)"):
        prune_spatial_structured(w, F43, 1.5)
    with pytest.raises(ValueError, match=r"^weight:"):
        prune_spatial_structured(torch.zeros(4, 4, 5, 5), F43, 0.5)


def test_prune_model_spatial_structured_masks_the_model_and_reports():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
        nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.Conv2d(16, 16, 3, padding=1),
    )  # fmt: skip
    masks, results = prune_model(net, "spatial-structured", 0.5, LayerPolicy(), F43)
    assert set(results) == {"0", "2", "4"}
    assert set(masks) == {"0.weight", "2.weight", "4.weight"}
    assert results["0"].target == 0.2 and results["2"].target == 0.5
    for name, result in results.items():
        weight = net.get_submodule(name).weight.detach()
        assert (weight[masks[f"{name}.weight"]] == 0).all()
        measured = float(winograd_zeros(weight, F43).float().mean())
        assert result.sparsity == pytest.approx(measured)
        assert abs(measured - result.target) < 2e-2  # small layers move in steps of 1/(K*C)
        assert result.spatial_sparsity is not None and result.spatial_sparsity > measured
    with pytest.raises(TypeError, match=r"^model: layer '0'"):
        prune_model(net, "winograd-direct", 0.5, LayerPolicy(), F43)
    with pytest.raises(ValueError, match=r"^method:"):
        prune_model(net, "magic", 0.5)  # type: ignore[arg-type]
