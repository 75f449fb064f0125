"""Cross-field rules of the recipe (winoprune.recipes). Each function takes a validated model and
returns [(field path relative to that model, message)]; an empty list means valid."""

from __future__ import annotations

from typing import Any

from winoprune.models import MODELS
from winoprune.recipes.adder_rules import adder_model_rules, adder_rules
from winoprune.recipes.wrelu_rules import model_option_rules, winograd_relu_rules

Rules = list[tuple[str, str]]

DEFAULT_GRAD_EXPONENT = 1.5
# where each pruning stage's target is measured: spatial-structured pruning targets the
# Winograd-domain sparsity of G W G^T, so it shares the "winograd" domain with the direct stages
TARGET_DOMAIN = {
    "spatial-structured": "winograd",
    "winograd-direct": "winograd",
    "native-winograd": "winograd",
    "spatial-unstructured": "spatial",
    "winograd-relu": "winograd",
}
# the pruning stage types each method runs, in order (dense fine-tune stages are always allowed)
METHOD_STAGES: dict[str, tuple[str, ...]] = {
    "spatial-winograd": ("spatial-structured", "winograd-direct"),
    "native-winograd": ("native-winograd",),
    "spatial-structured": ("spatial-structured",),
    "spatial-unstructured": ("spatial-unstructured",),
    "winograd-relu": ("winograd-relu",),
    "dense": (),
}
DATA_INPUT_SHAPES = {"digits": (1, 8, 8), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}
DATA_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100}
IMAGEFOLDER_DEFAULT_SIZE = 224


def model_rules(model: Any) -> Rules:
    """Build options only where the model takes them (``wrelu_rules``)."""
    return model_option_rules(model) + adder_model_rules(model)


def data_rules(data: Any) -> Rules:
    """root is required except for digits (which ships with scikit-learn and takes none)."""
    rules: Rules = []
    if data.name == "digits" and data.root is not None:
        rules.append(("root", "must be null for digits (it ships with scikit-learn)"))
    if data.name != "digits" and data.root is None:
        rules.append(("root", f"required for {data.name}: the directory holding the data set"))
    if data.image_size is not None and data.name != "imagefolder":
        rules.append(("image_size", f"only for imagefolder; {data.name} images have a fixed size"))
    return rules


# stage types whose weights live in the Winograd domain during training (dense stages keep
# whatever domain the model is in; precond-sgd is a no-op on spatial layers)
PRECOND_STAGE_TYPES = ("winograd-direct", "native-winograd", "dense")
SGD_NAMES = ("sgd", "precond-sgd")


def optimizer_rules(opt: Any) -> Rules:
    """Nesterov momentum needs SGD with momentum > 0 (as torch.optim.SGD demands); damping
    belongs to precond-sgd."""
    rules: Rules = []
    if opt.nesterov and (opt.name not in SGD_NAMES or opt.momentum == 0):
        rules.append(("nesterov", "needs name sgd or precond-sgd and momentum > 0"))
    if opt.damping and opt.name != "precond-sgd":
        rules.append(("damping", f"only for precond-sgd, not {opt.name}"))
    return rules


def lr_finder_rules(finder: Any) -> Rules:
    """The range test sweeps upwards: min_lr < max_lr."""
    if finder.min_lr >= finder.max_lr:
        return [("max_lr", f"must be > min_lr ({finder.min_lr}), got {finder.max_lr}")]
    return []


def sparsity_schedule_rules(schedule: Any) -> Rules:
    """initial belongs to the polynomial schedule."""
    if schedule.name == "constant" and schedule.initial is not None:
        return [("initial", "only for the polynomial schedule")]
    return []


def _lr_finder_rule(phase: Any) -> Rules:
    if phase.lr_finder is not None and phase.optimizer.lr != "auto":
        return [("lr_finder", "needs optimizer.lr: auto (the range test chooses the lr)")]
    return []


def pretrain_rules(pretrain: Any) -> Rules:
    """lr_finder goes with lr auto; precond-sgd needs Winograd-domain weights."""
    rules = _lr_finder_rule(pretrain)
    if pretrain.optimizer.name == "precond-sgd":
        rules.append(
            (
                "optimizer.name",
                "precond-sgd needs Winograd-domain weights; pretraining trains spatial weights",
            )
        )
    return rules


def _optimizer_stage_rules(stage: Any) -> Rules:
    rules: Rules = []
    if stage.optimizer.name == "precond-sgd":
        if stage.type == "winograd-relu":
            msg = "precond-sgd maps spatial SGD steps; Winograd-ReLU layers have no spatial form"
            rules.append(("optimizer.name", msg))
        elif stage.type not in PRECOND_STAGE_TYPES:
            rules.append(
                (
                    "optimizer.name",
                    f"precond-sgd needs Winograd-domain weights; {stage.type} stages train "
                    "spatial weights",
                )
            )
        if stage.grad_exponent is not None:
            rules.append(
                ("grad_exponent", "precond-sgd replaces the F_hat scaling; leave it unset")
            )
    return rules


def _sparsity_schedule_stage_rules(stage: Any) -> Rules:
    schedule = stage.sparsity_schedule
    if schedule is None or schedule.name == "constant":
        return []
    if stage.type == "dense":
        return [("sparsity_schedule", "dense stages prune nothing; leave it unset")]
    rules: Rules = []
    if stage.epochs == 0:
        rules.append(("sparsity_schedule", "the polynomial schedule needs epochs >= 1"))
    if schedule.initial is not None and schedule.initial > stage.target:
        rules.append(
            (
                "sparsity_schedule.initial",
                f"must be <= target ({stage.target}), got {schedule.initial}",
            )
        )
    return rules


def schedule_rules(schedule: Any) -> Rules:
    """step needs strictly increasing milestones; the other schedules take none."""
    if schedule.name != "step":
        if schedule.milestones:
            return [("milestones", f"only for the step schedule, not {schedule.name}")]
        return []
    if not schedule.milestones:
        return [("milestones", "the step schedule needs at least one milestone epoch")]
    pairs = zip(schedule.milestones, schedule.milestones[1:], strict=False)
    if any(b <= a for a, b in pairs):
        return [("milestones", f"must be strictly increasing, got {schedule.milestones}")]
    return []


def stage_rules(stage: Any) -> Rules:
    """grad_exponent belongs to winograd-direct; dense stages prune nothing; precond-sgd,
    lr_finder and sparsity_schedule go where they have a meaning."""
    rules: Rules = []
    if stage.grad_exponent is not None and stage.type != "winograd-direct":
        rules.append(("grad_exponent", f"only for winograd-direct stages, not {stage.type}"))
    if stage.type == "dense" and stage.target != 0:
        rules.append(("target", "dense stages fine-tune without pruning; leave target at 0"))
    rules += _optimizer_stage_rules(stage)
    rules += _lr_finder_rule(stage)
    rules += _sparsity_schedule_stage_rules(stage)
    return rules


def _method_rules(method: str, stages: list[Any]) -> Rules:
    allowed = METHOD_STAGES[method]
    rules: Rules = []
    if not stages and method != "dense":
        return [("stages", f"method {method} needs at least one stage")]
    seen: list[str] = []
    for i, stage in enumerate(stages):
        if stage.type == "dense":
            continue
        if stage.type not in allowed:
            kinds = " and ".join((*allowed, "dense"))
            rules.append(
                (f"stages.{i}.type", f"method {method} runs only {kinds} stages, got {stage.type}")
            )
        elif seen and allowed.index(stage.type) < allowed.index(seen[-1]):
            rules.append(
                (
                    f"stages.{i}.type",
                    f"method {method} runs its {stage.type} stages before its {seen[-1]} stages",
                )
            )
        else:
            seen.append(stage.type)
    rules += [
        ("stages", f"method {method} needs at least one {kind} stage")
        for kind in allowed
        if kind not in seen and not rules
    ]
    return rules


def _target_rules(stages: list[Any]) -> Rules:
    last: dict[str, tuple[int, float]] = {}
    rules: Rules = []
    for i, stage in enumerate(stages):
        domain = TARGET_DOMAIN.get(stage.type)
        if domain is None:
            continue
        if domain in last and stage.target < last[domain][1]:
            j, prev = last[domain]
            rules.append(
                (
                    f"stages.{i}.target",
                    f"must be >= {prev} (stages.{j}.target): "
                    f"{domain}-domain sparsity targets never decrease",
                )
            )
        last[domain] = (i, stage.target)
    return rules


def _model_data_rules(model: Any, data: Any) -> Rules:
    entry = MODELS[model.name]
    if data.name == "imagefolder":
        size = data.image_size or IMAGEFOLDER_DEFAULT_SIZE
        shape: tuple[int, int, int] = (3, size, size)
    else:
        shape = DATA_INPUT_SHAPES[data.name]
    rules: Rules = []
    if shape[0] != entry.input_shape[0] or (entry.fixed_size and shape != entry.input_shape):
        rules.append(
            (
                "model.name",
                f"{model.name} takes inputs {entry.input_shape} (C, H, W) "
                f"but {data.name} gives {shape}",
            )
        )
    classes = DATA_CLASSES.get(data.name)
    if model.num_classes is not None and classes is not None and model.num_classes != classes:
        rules.append(
            ("model.num_classes", f"{data.name} has {classes} classes, got {model.num_classes}")
        )
    return rules


def layers_rules(layers: Any) -> Rules:
    """A sensitivity allocation names its scan; its overrides come from the scan."""
    rules: Rules = []
    if layers.allocation is None:
        for name in ("scan", "allocation_target"):
            if getattr(layers, name) is not None:
                rules.append((name, "only with allocation: sensitivity"))
    else:
        if layers.scan is None:
            rules.append(("scan", "allocation: sensitivity needs the scan (its id or file)"))
        if layers.overrides:
            rules.append(("overrides", "the sensitivity allocation sets them; leave them out"))
    return rules


def recipe_rules(recipe: Any) -> Rules:
    """The rules that span sections: start point, stage sequence, targets, model vs data."""
    rules: Rules = []
    if (recipe.pretrain is None) == (recipe.init_checkpoint is None):
        rules.append(("pretrain", "give exactly one of pretrain and init_checkpoint"))
    rules += _method_rules(recipe.method, recipe.stages)
    rules += _target_rules(recipe.stages)
    rules += _model_data_rules(recipe.model, recipe.data)
    rules += winograd_relu_rules(recipe)
    rules += adder_rules(recipe)
    if recipe.distill is not None and not recipe.stages:
        rules.append(("distill", "needs at least one stage (pretraining is not distilled)"))
    return rules
