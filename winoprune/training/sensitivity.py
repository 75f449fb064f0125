"""Per-layer sensitivity scans in the Winograd domain.

From a checkpoint (or the recipe's dense start), for each eligible layer l and each
Winograd-domain sparsity s of a grid, prune layer l alone to s with the chosen method (every
other layer keeps the checkpoint's weights and masks), optionally retrain a few steps with the
masks held, and evaluate on a validation subset carved from the TRAINING data (never the test
set): the point (l, s) records the achieved sparsity, top-1 accuracy, cross-entropy loss and the
layer's Winograd-domain multiplications per image (``mult_saved = dense - sparse``).

Every point starts from the same restored state, so a point depends only on (checkpoint, spec,
layer, grid index): workers may compute any subset in any order and merge by that key.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from winoprune.data import build_datasets
from winoprune.data.base import ArrayDataset, mix_seed
from winoprune.models import build_model
from winoprune.pruning import Method, prune_model
from winoprune.pruning.masks import MaskSet, winograd_masks
from winoprune.pruning.metrics import layer_stats
from winoprune.pruning.policy import LayerPolicy
from winoprune.recipes import Recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.callbacks import resolve_device
from winoprune.training.loop import evaluate, make_loader
from winoprune.training.stages import layer_policy
from winoprune.winograd.layers import convert_model, winograd_domain_layers

SCAN_METHODS = ("spatial-structured", "winograd-direct", "native-winograd", "winograd-relu")
CONVERTING_METHODS = ("winograd-direct", "native-winograd")
DEFAULT_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))  # 0 .. 0.95
VALIDATION_STREAM = 0x5E45  # seed stream of the validation draw, apart from the data's subsets


@dataclass(frozen=True)
class ScanSpec:
    """What a scan measures: ``method``, the sparsity ``grid``, ``val_size`` training images
    held out for validation, ``retrain_steps`` SGD steps (lr ``retrain_lr``) per point."""

    method: str = "winograd-direct"
    grid: tuple[float, ...] = DEFAULT_GRID
    val_size: int = 1000
    retrain_steps: int = 0
    retrain_lr: float = 0.01
    batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in SCAN_METHODS:
            raise ValueError(f"method: must be one of {SCAN_METHODS}, got {self.method!r}")
        grid = tuple(float(s) for s in self.grid)
        if not grid or len(grid) > 100:
            raise ValueError(f"grid: needs 1 to 100 sparsities, got {len(grid)}")
        if any(not (0.0 <= s < 1.0) or not math.isfinite(s) for s in grid):
            raise ValueError(f"grid: every sparsity must be in [0, 1), got {list(grid)}")
        if list(grid) != sorted(set(grid)):
            raise ValueError("grid: sparsities must be strictly increasing")
        object.__setattr__(self, "grid", grid)
        for name, low, high in (
            ("val_size", 1, 1_000_000),
            ("retrain_steps", 0, 10_000),
            ("batch_size", 1, 65_536),
            ("seed", 0, 2**31 - 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name}: must be an integer in [{low}, {high}], got {value!r}")
        if not (0.0 < float(self.retrain_lr) <= 10.0):
            raise ValueError(f"retrain_lr: must be in (0, 10], got {self.retrain_lr}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["grid"] = list(self.grid)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanSpec:
        values = dict(data)
        if "grid" in values:
            values["grid"] = tuple(values["grid"])
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown scan option")
        return cls(**values)


@dataclass(frozen=True)
class LayerInfo:
    """A scanned layer: Winograd-domain weight entries and dense Winograd multiplications."""

    name: str
    numel: int
    mult_dense: int


@dataclass(frozen=True)
class ScanPoint:
    """Layer ``layer`` alone pruned to ``grid[index]`` = ``target``; see the module docstring."""

    layer: str
    index: int
    target: float
    sparsity: float
    accuracy: float
    loss: float
    multiplications: int
    mult_saved: int
    extra: dict[str, float] = field(default_factory=dict)


def escape_pattern(name: str) -> str:
    """A fnmatch pattern matching exactly ``name``."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


class SensitivityScan:
    """Loaded state of one scan: data, validation split, model and masks at the checkpoint."""

    def __init__(
        self, recipe: Recipe, spec: ScanSpec, weights: Path | None = None, device: str = ""
    ) -> None:
        self.recipe, self.spec = recipe, spec
        self.device = resolve_device(device or recipe.device)
        self.tf = recipe.transform()  # the tile's points and form
        self.policy = layer_policy(recipe)
        torch.manual_seed(recipe.seed)
        train, _test, info = build_datasets(recipe.data, seed=recipe.seed)
        self.input_shape = info.input_shape
        self.val, self.retrain = _split(train, spec.val_size, spec.seed)
        model = build_model(
            recipe.model.name, recipe.model.width, info.num_classes, **recipe.model_options()
        )
        self.model, self.masks = self._load(model, weights)
        self.model.to(self.device)
        self.base_state = copy.deepcopy(self.model.state_dict())
        self.layers = self._layer_infos()
        if not self.layers:
            raise ValueError("layers: the model has no eligible layer to scan")

    # -- set-up -------------------------------------------------------------------------------
    def _convert(self, model: nn.Module) -> None:
        if winograd_domain_layers(model):
            return
        convert_model(
            model,
            m=self.tf.m,
            include=list(self.policy.include) if self.policy.include is not None else None,
            exclude=list(self.policy.exclude),
            kernel_sizes=(self.tf.r,),
            transform=self.tf,
            dwm=self.policy.dwm,
        )

    def _load(self, model: nn.Module, weights: Path | None) -> tuple[nn.Module, MaskSet]:
        masks = MaskSet()
        if weights is not None:
            tensors = ckpt.load_tensors(weights)
            if _winograd_sidecar(weights.with_suffix(".json")):
                self._convert(model)
            state = {k.removeprefix("model."): v for k, v in tensors.items() if _is_model(k)}
            missing, unexpected = model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"checkpoint: {weights.name} does not fit model {self.recipe.model.name}: "
                    f"missing {missing[:5]}, unexpected {unexpected[:5]}"
                )
            masks = MaskSet.from_state_dict(
                {k[5:]: v for k, v in tensors.items() if k.startswith("mask.")}
            )
        if self.spec.method in CONVERTING_METHODS:
            masks.apply(model)
            self._convert(model)
            masks = winograd_masks(model, masks)
        elif self.spec.method == "spatial-structured" and winograd_domain_layers(model):
            raise ValueError(
                "method: spatial-structured needs a spatial checkpoint; this one is in the "
                "Winograd domain (scan it with winograd-direct or native-winograd)"
            )
        masks.apply(model)
        return model, masks

    def _layer_infos(self) -> list[LayerInfo]:
        names = [n for n in self.policy.eligible_layers(self.model) if self.policy._selected(n)]
        rows = layer_stats(self.model, self.input_shape, self.tf, (self.tf.r,), dwm=self.policy.dwm)
        winograd = {r.layer: r for r in rows if r.domain == "winograd"}
        return [
            LayerInfo(n, winograd[n].numel, int(winograd[n].mult_winograd_dense or 0))
            for n in names
            if n in winograd
        ]

    # -- points -------------------------------------------------------------------------------
    def baseline(self) -> dict[str, float]:
        """Accuracy and loss of the checkpoint itself on the validation subset."""
        self.model.load_state_dict(self.base_state)
        metrics = evaluate(self.model, self._val_loader(), self.device)
        return {"accuracy": metrics["top1"], "loss": metrics["test_loss"]}

    def point(self, layer: str, index: int) -> ScanPoint:
        """Prune ``layer`` alone to ``grid[index]``, retrain (optional), evaluate."""
        info = next((i for i in self.layers if i.name == layer), None)
        if info is None:
            raise ValueError(f"layer: {layer!r} is not a scanned layer of this model")
        if not 0 <= index < len(self.spec.grid):
            raise ValueError(f"index: must be in [0, {len(self.spec.grid)}), got {index}")
        target = self.spec.grid[index]
        self.model.load_state_dict(self.base_state)
        policy = LayerPolicy(
            first_layer="prune", include=[escape_pattern(layer)], dwm=self.policy.dwm,
            kernel_sizes=(self.tf.r,),
        )  # fmt: skip
        method = cast(Method, self.spec.method)  # checked in ScanSpec.__post_init__
        masks, results = prune_model(self.model, method, target, policy, self.tf, self.masks)
        if self.spec.retrain_steps:
            self._retrain(masks, index)
        metrics = evaluate(self.model, self._val_loader(), self.device)
        row = next(
            r
            for r in layer_stats(
                self.model, self.input_shape, self.tf, (self.tf.r,), self.policy.dwm
            )
            if r.layer == layer and r.domain == "winograd"
        )
        sparse = int(row.mult_winograd_sparse if row.mult_winograd_sparse is not None else 0)
        return ScanPoint(
            layer, index, target, round(results[layer].sparsity, 6), metrics["top1"],
            metrics["test_loss"], sparse, info.mult_dense - sparse,
        )  # fmt: skip

    def run_layer(
        self,
        layer: str,
        indices: Sequence[int] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[ScanPoint]:
        """The points of one layer (all grid indices by default), stopping between points."""
        for index in range(len(self.spec.grid)) if indices is None else indices:
            if should_stop():
                return
            yield self.point(layer, index)

    def _val_loader(self) -> Any:
        return make_loader(self.val, self.spec.batch_size, False, 0)

    def _retrain(self, masks: MaskSet, index: int) -> None:
        """A few SGD steps on the training images outside the validation split, masks held."""
        optimizer = torch.optim.SGD(self.model.parameters(), lr=self.spec.retrain_lr, momentum=0.9)
        criterion = nn.CrossEntropyLoss()
        seed = mix_seed(self.spec.seed, index, 0x7E7)
        loader = make_loader(self.retrain, min(self.spec.batch_size, 128), True, seed)
        self.model.train()
        steps = 0
        while steps < self.spec.retrain_steps:
            for x, y in loader:
                optimizer.zero_grad(set_to_none=True)
                criterion(self.model(x.to(self.device)), y.to(self.device)).backward()
                optimizer.step()
                masks.apply(self.model)
                steps += 1
                if steps >= self.spec.retrain_steps:
                    break


def _winograd_sidecar(sidecar: Path) -> bool:
    """True when a checkpoint sidecar beside the weights lists Winograd-domain layers (any
    other JSON file there, or none, means spatial weights)."""
    if not sidecar.is_file():
        return False
    try:
        return bool(ckpt.read_meta(sidecar).winograd_layers)
    except (ValueError, TypeError, KeyError):
        return False


def _is_model(key: str) -> bool:
    return not key.startswith(("mask.", "rng.", "optim.", "teacher."))


def _split(train: Any, val_size: int, seed: int) -> tuple[Any, Any]:
    """(validation, rest) of the training set: a seeded draw of ``val_size`` images; the
    validation half without augmentation (ArrayDataset) so its points are deterministic."""
    total = len(train)
    if val_size >= total:
        raise ValueError(f"val_size: {val_size} leaves no training image of {total}")
    order = torch.randperm(
        total, generator=torch.Generator().manual_seed(mix_seed(seed, VALIDATION_STREAM))
    )
    val_idx, rest_idx = order[:val_size].sort().values, order[val_size:].sort().values
    if isinstance(train, ArrayDataset):
        val = ArrayDataset(
            train.images[val_idx], train.labels[val_idx], train.mean, train.std, None, train.seed
        )
        return val, train.subset(rest_idx)
    from torch.utils.data import Subset

    return Subset(train, val_idx.tolist()), Subset(train, rest_idx.tolist())
