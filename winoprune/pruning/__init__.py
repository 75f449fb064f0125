"""Model-level pruning: one call per stage, ``prune_model(model, method, target, policy, ...)``.

Methods (paper-spec sections 2, 3 and 6a):

- ``"spatial-structured"`` (stage 1, model holds nn.Conv2d): zero groups
  ``S_ij = supp(G_i) x supp(G_j)`` with ``max |W| < t`` so that ``G W G^T`` has exact zeros.
- ``"winograd-direct"`` (stage 2, model holds WinogradConv2d): prune ``|Q| * F_hat < t``;
  retrain with ``WinogradGradScaler`` (``grad_Q /= F_hat ** 1.5``).
- ``"native-winograd"`` (Li et al. 2017, WinogradConv2d): prune ``|Q| < t``, no scaling.
- ``"winograd-relu"`` (Liu et al. 2018, Winograd-ReLU layers): keep the ``int(numel * (1 - s))``
  largest ``|Q|`` per layer, no bisection (``pruning.wrelu``).
- ``"spatial-unstructured"`` (nn.Conv2d): prune ``|W| < t``; target in the spatial or the
  Winograd domain (``target_domain``).

Each layer's t is bisected to its policy target. Masks of earlier stages are OR-ed in (nested).
DWM layers (``policy.dwm``: strided, 1x1 and large-kernel convs) take the same methods with
groups and importance factors per piece (``pruning.dwm``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from winoprune.pruning.baselines import (
    TargetDomain,
    prune_native_winograd,
    prune_spatial_unstructured,
)
from winoprune.pruning.bisection import DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE
from winoprune.pruning.dwm import (
    dwm_zero_fraction,
    prune_dwm_direct,
    prune_dwm_spatial_structured,
    prune_dwm_spatial_unstructured,
)
from winoprune.pruning.masks import MaskSet, winograd_masks
from winoprune.pruning.policy import LayerPolicy
from winoprune.pruning.spatial import (
    LayerPruning,
    prune_spatial_structured,
    transform_for_kernel,
    winograd_zero_fraction,
)
from winoprune.pruning.winograd import PAPER_ALPHA, WinogradGradScaler, prune_winograd_direct
from winoprune.pruning.wrelu import prune_top_magnitude
from winoprune.winograd.dwm import DWMConv2d, DWMLayout, dwm_layout
from winoprune.winograd.layers import WinogradConv2d, uses_dwm
from winoprune.winograd.transforms import WinogradTransform

Method = Literal[
    "spatial-structured",
    "winograd-direct",
    "native-winograd",
    "spatial-unstructured",
    "winograd-relu",
]
SPATIAL_METHODS = ("spatial-structured", "spatial-unstructured")
WINOGRAD_METHODS = ("winograd-direct", "native-winograd", "winograd-relu")
METHODS = SPATIAL_METHODS + WINOGRAD_METHODS

__all__ = [
    "METHODS",
    "PAPER_ALPHA",
    "LayerPolicy",
    "LayerPruneResult",
    "MaskSet",
    "Method",
    "WinogradGradScaler",
    "prune_model",
    "winograd_masks",
]


@dataclass(frozen=True)
class LayerPruneResult:
    """One layer of one pruning call.

    ``sparsity``: achieved Winograd-domain sparsity (exact zeros of Q, or of G W G^T for spatial
    layers, after masking); ``spatial_sparsity``: zero fraction of W (None for Winograd layers);
    ``threshold``: t of the layer's rule; ``iterations``: evaluations of the bisection.
    """

    layer: str
    method: str
    target: float
    sparsity: float
    threshold: float
    iterations: int
    spatial_sparsity: float | None = None


def prune_model(
    model: nn.Module,
    method: Method,
    target: float,
    policy: LayerPolicy | None = None,
    transform: WinogradTransform | None = None,
    masks: MaskSet | None = None,
    *,
    target_domain: TargetDomain = "winograd",
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> tuple[MaskSet, dict[str, LayerPruneResult]]:
    """Prune every layer the policy selects, apply the masks to the model, return them.

    ``target`` is the stage target; ``policy.layer_targets`` gives each layer its own. For the
    spatial methods ``transform`` (default F(4, r)) defines the groups and the Winograd sparsity
    (a transform whose r differs from a layer's kernel is replaced by F(transform.m, r)); the
    Winograd methods use each layer's own transform. ``masks`` are the previous stage's masks
    (spatial masks of converted layers are converted with ``winograd_masks``); the returned
    MaskSet holds them all, OR-ed with the new ones. ``target_domain`` applies only to
    "spatial-unstructured". Raises TypeError when a selected layer has the wrong type for the
    method (convert with ``convert_model`` before the Winograd methods).
    """
    if method not in METHODS:
        raise ValueError(f"method: must be one of {METHODS}, got {method!r}")
    policy = policy or LayerPolicy()
    previous = winograd_masks(model, masks) if masks is not None else MaskSet()
    new_masks: dict[str, torch.Tensor] = {}
    searches: dict[str, tuple[float, LayerPruning]] = {}
    for name, layer_target in policy.layer_targets(model, target).items():
        module = model.get_submodule(name)
        _check_layer_type(name, module, method)
        prior = previous.get(f"{name}.weight")
        layout = dwm_layout_of(module, policy, transform)
        if layout is not None:
            pruning = _prune_dwm_layer(
                module, method, layout, layer_target, prior, target_domain, tol, max_iter
            )
        else:
            pruning = _prune_layer(
                module, method, layer_target, prior, transform, target_domain, tol, max_iter
            )
        new_masks[f"{name}.weight"] = pruning.mask
        searches[name] = (layer_target, pruning)
    merged = previous.updated(new_masks)
    merged.apply(model)
    results = {
        name: _measured(
            name, model.get_submodule(name), method, layer_target, pruning, transform, policy
        )
        for name, (layer_target, pruning) in searches.items()
    }
    return merged, results


def _check_layer_type(name: str, module: nn.Module, method: str) -> None:
    winograd = isinstance(module, WinogradConv2d | DWMConv2d)
    if method in WINOGRAD_METHODS and not winograd:
        raise TypeError(
            f"model: layer {name!r} is {type(module).__name__}; method {method!r} needs "
            "WinogradConv2d or DWMConv2d (convert the model with convert_model first)"
        )
    if method in SPATIAL_METHODS and winograd:
        raise TypeError(
            f"model: layer {name!r} is {type(module).__name__}; {method!r} needs nn.Conv2d"
        )


def dwm_layout_of(
    module: nn.Module, policy: LayerPolicy, transform: WinogradTransform | None
) -> DWMLayout | None:
    """The DWM layout a layer is pruned under: a DWMConv2d's own, or, with ``policy.dwm``, that
    of an nn.Conv2d which ``convert_model(dwm=True)`` turns into a DWM layer; else None."""
    if isinstance(module, DWMConv2d):
        return module.layout
    sizes = (transform.r,) if transform is not None else tuple(policy.kernel_sizes)
    if policy.dwm and isinstance(module, nn.Conv2d) and uses_dwm(module, sizes):
        stride = (module.stride[0], module.stride[1])
        return dwm_layout((module.kernel_size[0], module.kernel_size[1]), stride)
    return None


def layer_transform(module: nn.Module, transform: WinogradTransform | None) -> WinogradTransform:
    """The transform of a layer: its own (WinogradConv2d) or ``transform`` fitted to its r."""
    if isinstance(module, WinogradConv2d):
        return module.transform
    assert isinstance(module, nn.Conv2d)
    return transform_for_kernel(module.kernel_size[0], transform)


def _prune_layer(
    module: nn.Module,
    method: str,
    target: float,
    prior: torch.Tensor | None,
    transform: WinogradTransform | None,
    target_domain: TargetDomain,
    tol: float,
    max_iter: int,
) -> LayerPruning:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    tf = layer_transform(module, transform)
    if method == "spatial-structured":
        return prune_spatial_structured(weight, tf, target, prior, tol, max_iter)
    if method == "spatial-unstructured":
        return prune_spatial_unstructured(weight, tf, target, target_domain, prior, tol, max_iter)
    if method == "winograd-direct":
        return prune_winograd_direct(weight, tf, target, prior, tol, max_iter)
    if method == "winograd-relu":
        return prune_top_magnitude(weight, target, prior)
    return prune_native_winograd(weight, target, prior, tol, max_iter)


def _prune_dwm_layer(
    module: nn.Module,
    method: str,
    layout: DWMLayout,
    target: float,
    prior: torch.Tensor | None,
    target_domain: TargetDomain,
    tol: float,
    max_iter: int,
) -> LayerPruning:
    """The rules of ``_prune_layer`` on a DWM layer (or a conv that becomes one): groups and
    importance factors per piece, one threshold over all pieces (``pruning.dwm``)."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    if method == "spatial-structured":
        return prune_dwm_spatial_structured(weight, layout, target, prior, tol, max_iter)
    if method == "spatial-unstructured":
        return prune_dwm_spatial_unstructured(
            weight, layout, target, target_domain, prior, tol, max_iter
        )
    if method == "winograd-direct":
        return prune_dwm_direct(weight, layout, target, prior, tol, max_iter)
    return prune_native_winograd(weight, target, prior, tol, max_iter)


def _measured(
    name: str,
    module: nn.Module,
    method: str,
    target: float,
    pruning: LayerPruning,
    transform: WinogradTransform | None,
    policy: LayerPolicy,
) -> LayerPruneResult:
    """The result with the sparsities measured on the masked weights of the model."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    w = weight.detach()
    spatial = None
    layout = dwm_layout_of(module, policy, transform)
    if isinstance(module, WinogradConv2d | DWMConv2d):
        winograd = float((w == 0).sum().item()) / max(w.numel(), 1)
    elif layout is not None:
        winograd = dwm_zero_fraction(w, layout)
        spatial = float((w == 0).sum().item()) / max(w.numel(), 1)
    else:
        winograd = winograd_zero_fraction(w, layer_transform(module, transform))
        spatial = float((w == 0).sum().item()) / max(w.numel(), 1)
    return LayerPruneResult(
        name, method, target, winograd, pruning.threshold, pruning.iterations, spatial
    )
