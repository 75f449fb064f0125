"""The job recipe: pydantic models, validation rules, canonical JSON and its sha256.

A recipe (YAML or JSON) describes a whole pruning job; see the README section "Recipes" for the
schema. Unknown keys are errors, numbers are range-checked, and every error names its field path
("stages.1.target: must be in [0, 1), got 1.5"). The canonical JSON (sorted keys, no whitespace,
defaults filled in) and its sha256 identify a recipe.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    field_validator,
)
from pydantic import model_validator as _model_validator

from winoprune.models import MODELS, model_names
from winoprune.models.wrelu import InputLayer
from winoprune.recipes.adder_rules import AdderSpec, PScheduleSpec
from winoprune.recipes.fields import (
    AUTO_LR,
    DEVICE_PATTERN,
    NAME_PATTERN,
    BatchSize,
    Damping,
    Epochs,
    Factor,
    Gamma,
    GradExponent,
    LearningRate,
    LearningRateOrAuto,
    Method,
    Milestone,
    Momentum,
    Pattern,
    Power,
    Smoothing,
    Sparsity,
    StageType,
    StrictModel,
    SubsetSize,
    Temperature,
    Weight,
    WeightDecay,
    Width,
    bounds,
    check_rules,
    in_range,
    is_zero,
    matches,
    unset,
)
from winoprune.recipes.rules import (
    DEFAULT_GRAD_EXPONENT,
    TARGET_DOMAIN,
    data_rules,
    layers_rules,
    lr_finder_rules,
    model_rules,
    optimizer_rules,
    pretrain_rules,
    recipe_rules,
    schedule_rules,
    sparsity_schedule_rules,
    stage_rules,
)
from winoprune.recipes.tile import DEFAULT_TILE, Tile, tile_summation, tile_transform
from winoprune.winograd.accurate import Summation
from winoprune.winograd.relu import QInit
from winoprune.winograd.transforms import WinogradTransform


class ModelSpec(StrictModel):
    """Which registered model to build: name, width multiplier, class count (null: data's)."""

    name: str = Field(description="a registered model: " + ", ".join(model_names()))
    width: Width = 1.0
    num_classes: Annotated[int, in_range(1, 100_000)] | None = None
    # during pruning every dropout rate becomes p0 * (1 - s) ** dropout_exponent, s the stage's
    # target (input dropouts: the first conv's); the authors' CIFAR-100 value is 0.75
    # (paper-spec 2). null: the model's rates throughout (training.stage_settings)
    dropout_exponent: Annotated[float, in_range(0, 4), bounds(0, 4)] | None = Field(
        default=None, exclude_if=unset
    )
    # Winograd-ReLU models only (models.wrelu): how the first conv sees the image (Liu et al.'s
    # CIFAR handling is NOT FOUND; null: winograd-identity) and how Q is initialised (null:
    # variance-scaling, their code's)
    input_layer: InputLayer | None = Field(default=None, exclude_if=unset)
    q_init: QInit | None = Field(default=None, exclude_if=unset)
    # adder models only (models.adder): adder-layer options (recipes.adder_rules.AdderSpec)
    adder: AdderSpec | None = Field(default=None, exclude_if=unset)

    _rules = check_rules(model_rules)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}; known: {', '.join(model_names())}")
        return value


class DataSpec(StrictModel):
    """The data set; ``root`` is required for all but digits. See ``winoprune.data``."""

    name: Literal["digits", "cifar10", "cifar100", "imagefolder"] = "digits"
    root: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    train_subset: SubsetSize | None = None
    test_subset: SubsetSize | None = None
    augment: bool = True
    num_workers: Annotated[int, in_range(0, 64)] = 0
    crop_padding: Annotated[int, in_range(0, 16)] = 4  # CIFAR random-crop padding (paper: 5)
    image_size: Annotated[int, in_range(8, 1024)] | None = None  # imagefolder crop (224)

    _rules = check_rules(data_rules)


class LayersSpec(StrictModel):
    """Which layers are pruned (fnmatch patterns on module names) and how the first one is."""

    first_layer: Literal["dense", "fixed", "prune"] = "fixed"
    first_layer_sparsity: Sparsity = 0.2
    include: list[Pattern] | None = None
    exclude: list[Pattern] = Field(default_factory=list)
    overrides: dict[Pattern, Sparsity] = Field(default_factory=dict)
    # DWM (related-methods-spec 2): strided, 1x1 and non-tile kernels also become Winograd
    # layers (F(2, r_i) pieces) and are pruned; off by default, and then left out of the
    # canonical JSON so that older recipes keep their sha256
    dwm: bool = Field(default=False, exclude_if=is_zero)
    # per-layer targets from a sensitivity scan (issue 17): "sensitivity" with a scan (service:
    # its id; locally: its sensitivity.json) is resolved at submit time into explicit overrides
    # reaching `allocation_target` (null: the largest stage target) as overall Winograd
    # sparsity; unset, all three stay out of the canonical JSON (old hashes unchanged)
    allocation: Literal["sensitivity"] | None = Field(default=None, exclude_if=unset)
    scan: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        default=None, exclude_if=unset
    )
    allocation_target: Sparsity | None = Field(default=None, exclude_if=unset)
    # the provenance a resolved recipe keeps: "scan:<id>" or the file's name
    allocated_from: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None, exclude_if=unset
    )

    _rules = check_rules(layers_rules)


class OptimizerSpec(StrictModel):
    """Optimizer of a training phase; ``lr: auto`` runs the lr range test (``lr_finder``).

    - ``sgd``: torch SGD; in winograd-direct stages with the F_hat^-alpha gradient scaling.
    - ``adam`` / ``adamw`` on the weights as they are (Q in Winograd stages). Adam divides each
      entry by its running RMS gradient, so a constant per-position scale such as F_hat^-alpha
      cancels (up to eps): winograd-direct stages default to no scaling with Adam.
    - ``precond-sgd``: SGD on the natural step ``grad_Q <- P grad_Q P``, ``P = G G^T``, which
      maps spatial SGD into the Winograd domain (Winograd-domain stages only; no F_hat scaling).
      ``damping`` > 0 adds ``damping * lambda_max * I`` to P, so that pruned Q, which has left
      the image of the spatial kernels, can still move in every surviving entry.
    """

    name: Literal["sgd", "adam", "adamw", "precond-sgd"] = "sgd"
    lr: LearningRateOrAuto
    momentum: Momentum = 0.9  # SGD momentum; beta1 for adam / adamw
    weight_decay: WeightDecay = 0.0
    nesterov: bool = False
    damping: Damping = Field(default=0.0, exclude_if=is_zero)  # precond-sgd only

    _rules = check_rules(optimizer_rules)


class ScheduleSpec(StrictModel):
    """Per-epoch learning-rate schedule of a phase; step decays by gamma at each milestone."""

    name: Literal["constant", "step", "cosine"] = "constant"
    milestones: list[Milestone] = Field(default_factory=list)  # epochs within the stage
    gamma: Gamma = 0.1

    _rules = check_rules(schedule_rules)


class LRFinderSpec(StrictModel):
    """The lr range test run before a phase with ``optimizer.lr: auto`` (training.lr_finder).

    ``steps`` batches at learning rates rising exponentially from ``min_lr`` to ``max_lr``; after
    each, the loss of one fixed probe batch, smoothed by a bias-corrected EMA (``smoothing`` =
    beta). ``rule`` ``min-loss`` takes the lr of the lowest smoothed loss, ``below-start`` the
    largest lr whose smoothed loss is still below the loss before the sweep; the chosen lr is
    that times ``factor``.
    """

    min_lr: LearningRate = 1e-7
    max_lr: LearningRate = 1.0
    steps: Annotated[int, in_range(5, 10_000), bounds(5, 10_000)] = 40
    smoothing: Smoothing = 0.5
    rule: Literal["min-loss", "below-start"] = "min-loss"
    factor: Factor = 0.1

    _rules = check_rules(lr_finder_rules)


class SparsityScheduleSpec(StrictModel):
    """How a pruning stage reaches its target: at once (constant) or gradually (polynomial).

    polynomial (Zhu & Gupta 2017): re-prune at the start of every ``every`` epochs of the stage,
    pruning step j of n = ceil(epochs / every) to ``s = target + (initial - target) *
    (1 - (j + 1) / n) ** power``; the last step reaches the target. ``initial`` null: the
    previous pruning stage's target in the same domain (0 for the first).
    """

    name: Literal["constant", "polynomial"]
    initial: Sparsity | None = None
    power: Power = 3.0
    every: Annotated[int, in_range(1, 100_000), bounds(1, 100_000)] = 1

    _rules = check_rules(sparsity_schedule_rules)


def _fill_lr_finder(phase: Any) -> None:
    """``lr: auto`` without an ``lr_finder`` section gets the default one."""
    if phase.optimizer.lr == AUTO_LR and phase.lr_finder is None:
        phase.lr_finder = LRFinderSpec()


class PretrainSpec(StrictModel):
    """Dense training from scratch before pruning."""

    epochs: Epochs
    optimizer: OptimizerSpec
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    lr_finder: LRFinderSpec | None = Field(default=None, exclude_if=unset)
    # Winograd adder models only: the l2-to-l1 exponent schedule (recipes.adder_rules)
    p_schedule: PScheduleSpec | None = Field(default=None, exclude_if=unset)

    _rules = check_rules(pretrain_rules)

    @_model_validator(mode="after")
    def _fill(self) -> PretrainSpec:
        _fill_lr_finder(self)
        return self


class Stage(StrictModel):
    """One pruning (or dense fine-tune) stage: prune to ``target``, then retrain ``epochs``."""

    type: StageType
    target: Sparsity = 0.0
    epochs: Epochs
    optimizer: OptimizerSpec
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    grad_exponent: GradExponent | None = None  # winograd-direct only; 1.5 there with sgd
    lr_finder: LRFinderSpec | None = Field(default=None, exclude_if=unset)
    sparsity_schedule: SparsityScheduleSpec | None = Field(default=None, exclude_if=unset)
    # Winograd adder models only: the l2-to-l1 exponent schedule (recipes.adder_rules)
    p_schedule: PScheduleSpec | None = Field(default=None, exclude_if=unset)
    # every BatchNorm's momentum in this stage (torch: running <- (1 - m) running + m batch);
    # the authors use 1e-4 in the VGG Winograd stages. null: the model's own (0.1)
    bn_momentum: (
        Annotated[float, in_range(0, 1, lo_open=True), bounds(0, 1, lo_open=True)] | None
    ) = Field(default=None, exclude_if=unset)

    _rules = check_rules(stage_rules)

    @_model_validator(mode="after")
    def _fill_defaults(self) -> Stage:
        # the paper's F_hat^-1.5 scaling only with plain SGD: Adam cancels it, precond-sgd
        # replaces it (an explicit grad_exponent with Adam stays allowed; the pipeline logs why
        # it has no effect)
        sgd = self.optimizer.name == "sgd"
        if self.type == "winograd-direct" and self.grad_exponent is None and sgd:
            self.grad_exponent = DEFAULT_GRAD_EXPONENT
        _fill_lr_finder(self)
        return self

    @property
    def domain(self) -> str | None:
        """Where the stage's target is measured ("winograd" or "spatial"); None for dense."""
        return TARGET_DOMAIN.get(self.type)


class DistillSpec(StrictModel):
    """Knowledge distillation (Hinton et al. 2015) in every recipe stage, from the frozen model
    as it entered stage 0 (the dense start) as teacher: the training loss is
    ``(1 - weight) * CE(student, y) + weight * T^2 * KL(softmax(teacher / T) || softmax(student
    / T))`` with ``T = temperature``. Pretraining is not distilled."""

    temperature: Temperature = 4.0
    weight: Weight = 0.9


class Recipe(StrictModel):
    """A whole pruning job; see the module docstring."""

    name: Annotated[
        str,
        matches(NAME_PATTERN, "1-100 characters from A-Z a-z 0-9 . _ -"),
        Field(json_schema_extra={"pattern": f"^{NAME_PATTERN}$"}),
    ]
    description: Annotated[str, Field(max_length=10_000)] = ""
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    tile: Tile = DEFAULT_TILE  # a name, or {m, r, points, form, channel_sum, order} (tile.py)
    method: Method = "spatial-winograd"
    layers: LayersSpec = Field(default_factory=LayersSpec)
    pretrain: PretrainSpec | None = None
    init_checkpoint: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    stages: list[Stage] = Field(default_factory=list)
    distill: DistillSpec | None = Field(default=None, exclude_if=unset)
    batch_size: BatchSize = 128
    eval_batch_size: BatchSize = 256
    seed: Annotated[int, in_range(0, 2**31 - 1)] = 0
    device: Annotated[
        str,
        matches(DEVICE_PATTERN, "auto, cpu, cuda or cuda:N"),
        Field(json_schema_extra={"pattern": f"^({DEVICE_PATTERN})$"}),
    ] = "auto"

    _rules = check_rules(recipe_rules)

    def transform(self) -> WinogradTransform:
        """The Winograd transform of ``tile`` (its points and form)."""
        return tile_transform(self.tile)

    def summation(self) -> Summation:
        """The Winograd layers' channel-sum and transform-order options of ``tile``."""
        return tile_summation(self.tile)

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace, defaults filled in: equal recipes give equal strings."""
        return json.dumps(
            self.model_dump(mode="json"),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def sha256(self) -> str:
        """Hex sha256 of ``canonical_json()``: the recipe's identity."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def to_yaml(self) -> str:
        """The full recipe (defaults filled in) as YAML, in schema order."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    def model_options(self) -> dict[str, Any]:
        """``build_model`` options of the recipe's model: ``tile`` and the model section's
        ``input_layer`` / ``q_init`` where the model takes them (Winograd-ReLU models)."""
        values = {
            "tile": self.tile if isinstance(self.tile, str) else self.transform(),
            "input_layer": self.model.input_layer,
            "q_init": self.model.q_init,
        }
        if self.model.adder is not None:
            values.update(self.model.adder.build_options())
        accepted = MODELS[self.model.name].options
        return {k: v for k, v in values.items() if k in accepted and v is not None}

    def total_epochs(self) -> int:
        """Pretraining plus all stage epochs (for progress bars)."""
        return (self.pretrain.epochs if self.pretrain else 0) + sum(s.epochs for s in self.stages)
