"""Issue 7, section 3: the paper's VGG-nagadomi / CIFAR-10 recipe at full scale, as much of it as
fits a time budget on the device at hand (a CUDA GPU where there is one).

``recipes/vgg-nagadomi-cifar10.yaml`` (700 dense epochs, six spatial-structured stages of 150-350
epochs, five Winograd-direct stages of 350) runs through the project's pipeline unchanged except
for its epoch counts: a probe times a dense and a Winograd-domain training step on the device,
the pretraining gets ``--pretrain-share`` of the budget, and every stage keeps its share of the
paper's stage epochs (at least one), with step milestones scaled in proportion. Model, data (all
50,000 training and 10,000 test images), targets, learning rates, importance factors and gradient
scaling are the paper's.

    python benchmarks/full_scale.py --budget-s 480 --device cuda
    python benchmarks/full_scale.py --budget-s 120 --device cpu --width 0.125 --train-subset 2000

The epochs are planned for 90 % of the budget, and the run stops at the budget (status
"stopped") whatever the plan said. ``--out`` (default
``benchmarks/results/full_scale_cifar10.json``) is rewritten after every epoch, so a run cut
short still leaves its stages so far; a Markdown table is printed at the end. Benchmarks
measure; they never assert.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from provenance import commit
from pruning_methods import ARCHIVE, CACHE, ROOT, Collector, ensure_data, pct, stage_rows
from torch import nn

from winoprune.data import build_datasets
from winoprune.models import build_model
from winoprune.recipes import Recipe, parse_recipe
from winoprune.training.pipeline import EpochReport, Pipeline
from winoprune.training.stages import STAGE_DOMAINS
from winoprune.winograd.layers import convert_model

RECIPE = ROOT / "recipes" / "vgg-nagadomi-cifar10.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "full_scale_cifar10.json"
PAPER_SPARSITY = 0.63  # the paper's VGG-nagadomi / CIFAR-10 Winograd-domain sparsity
PLAN_SHARE = 0.9


# -- timing probe -----------------------------------------------------------------------------
def step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Mean seconds of one SGD training step (after two warm-up steps)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    for _ in range(2):
        step()
    sync(x.device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(x.device)
    return (time.perf_counter() - started) / steps


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe(recipe: Recipe, device: torch.device, train_size: int, test_size: int) -> dict[str, Any]:
    """Estimated seconds per epoch (training, the post-epoch evaluation and batching) of dense /
    spatial and of Winograd-domain training, from timed steps on random data."""
    model = build_model(recipe.model.name, recipe.model.width)
    x = torch.randn(recipe.batch_size, *model.input_shape, device=device)
    y = torch.randint(0, 10, (recipe.batch_size,), device=device)
    steps = 20
    dense = step_seconds(model.to(device), x, y, steps)
    convert_model(model.cpu(), m=4)
    winograd = step_seconds(model.to(device), x, y, steps)
    train_steps = math.ceil(train_size / recipe.batch_size)
    # evaluation is forward only (about a third of a step) over the test set; batching, the layer
    # statistics and the checkpoint add a fixed share
    eval_steps = math.ceil(test_size / recipe.batch_size) / 3
    overhead = 1.15
    return {
        "dense_step_s": dense,
        "winograd_step_s": winograd,
        "dense_epoch_s": overhead * dense * (train_steps + eval_steps),
        "winograd_epoch_s": overhead * winograd * (train_steps + eval_steps),
    }


# -- the scaled recipe ------------------------------------------------------------------------
def scaled_schedule(schedule: dict[str, Any], old: int, new: int) -> dict[str, Any]:
    """Step milestones scaled from ``old`` to ``new`` epochs; those that fall outside are dropped,
    and a step schedule left without any becomes constant."""
    if schedule.get("name") != "step":
        return schedule
    marks = sorted({round(m * new / old) for m in schedule.get("milestones", [])})
    marks = [m for m in marks if 0 < m < new]
    return {**schedule, "milestones": marks} if marks else {"name": "constant"}


def scale_section(section: dict[str, Any], epochs: int) -> dict[str, Any]:
    old = int(section["epochs"])
    out = {**section, "epochs": epochs}
    if "schedule" in section:
        out["schedule"] = scaled_schedule(section["schedule"], old, epochs)
    return out


def plan_epochs(
    raw: dict[str, Any], timing: dict[str, Any], budget_s: float, pretrain_share: float
) -> tuple[int, list[int]]:
    """Pretraining epochs and per-stage epochs that fit ``budget_s`` by the probe's timing."""
    dense_s, winograd_s = timing["dense_epoch_s"], timing["winograd_epoch_s"]
    pretrain = max(1, int(pretrain_share * budget_s / dense_s))
    left = budget_s - pretrain * dense_s
    winograd = [STAGE_DOMAINS[s["type"]] == "winograd" for s in raw["stages"]]
    per_epoch = [winograd_s if w else dense_s for w in winograd]
    paper = [int(s["epochs"]) for s in raw["stages"]]
    factor = max(left, 0.0) / sum(e * t for e, t in zip(paper, per_epoch, strict=True))
    return pretrain, [max(1, round(e * factor)) for e in paper]


def scaled_recipe(raw: dict[str, Any], pretrain: int, stages: list[int]) -> dict[str, Any]:
    out = {**raw, "pretrain": scale_section(raw["pretrain"], pretrain)}
    out["stages"] = [scale_section(s, n) for s, n in zip(raw["stages"], stages, strict=True)]
    out["description"] = (
        f"{raw['name']} with its epochs scaled to fit a time budget (benchmarks/full_scale.py): "
        f"pretrain {pretrain} of {raw['pretrain']['epochs']}, stages {stages} of "
        f"{[s['epochs'] for s in raw['stages']]}"
    )
    return out


# -- running ----------------------------------------------------------------------------------
class Progress(Collector):
    """Collector that rewrites the results file after every epoch and stops the pipeline (at a
    step boundary, with a checkpoint) once ``deadline`` (perf_counter seconds) has passed."""

    def __init__(self, write: Any, deadline: float) -> None:
        super().__init__("full-scale")
        self.write = write
        self.deadline = deadline
        self.started = time.perf_counter()

    def should_stop(self) -> bool:
        return time.perf_counter() > self.deadline

    def on_epoch(self, report: EpochReport) -> None:
        super().on_epoch(report)
        self.curve[-1]["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        self.write(self)


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
    return info


def reached_stages(progress: Progress, recipe: Recipe) -> list[dict[str, Any]]:
    """Rows of the stages begun so far, each at its latest epoch (``epochs_done``)."""
    begun = sum(1 for i in range(len(recipe.stages)) if i in progress.last)
    rows = stage_rows(progress, recipe.model_copy(update={"stages": recipe.stages[:begun]}))
    for row in rows:
        row["epochs_done"] = progress.last[row["stage"]].epoch
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| stage | type | target | epochs (paper) | top-1 | Winograd sparsity |",
        "|---|---|---|---|---|---|",
        f"| pretrain | dense | - | {result['plan']['pretrain_epochs']} (700) | "
        f"{pct(result.get('dense_top1'), 2)} | - |",
    ]
    for row, (n, paper) in zip(result["stages"], result["plan"]["stage_epochs"], strict=False):
        lines.append(
            f"| {row['stage']} | {row['type']} | {row['target']:.0%} | {n} ({paper}) | "
            f"{pct(row['top1'], 2)} | {pct(row['winograd_sparsity'])} |"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=480, help="seconds for the whole run")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pretrain-share", type=float, default=0.4)
    parser.add_argument("--width", type=float, default=None, help="override (smoke runs)")
    parser.add_argument("--train-subset", type=int, default=None, help="override (smoke runs)")
    parser.add_argument("--data-dir", type=Path, default=CACHE / "cifar10-jpg")
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--work", type=Path, default=CACHE / "full-scale")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--plan-only", action="store_true", help="print the probe and plan, stop")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    device = torch.device(args.device)
    data_dir = ensure_data(args.data_dir, args.archive)
    raw = yaml.safe_load(RECIPE.read_text())
    raw["device"] = args.device
    raw["data"] = {**raw["data"], "root": str(data_dir), "num_workers": 0}
    if args.width is not None:
        raw["model"] = {**raw["model"], "width": args.width}
    if args.train_subset is not None:
        raw["data"]["train_subset"] = args.train_subset
    base = parse_recipe(raw)
    train, test, _ = build_datasets(base.data, seed=base.seed)  # decodes and caches the images
    timing = probe(base, device, len(train), len(test))
    budget = args.budget_s - (time.perf_counter() - started)
    # plan for 90 % of what is left: the probe misses per-step work such as masks and syncs
    pretrain, stages = plan_epochs(raw, timing, PLAN_SHARE * budget, args.pretrain_share)
    recipe = parse_recipe(scaled_recipe(raw, pretrain, stages))
    result: dict[str, Any] = {
        "recipe": str(RECIPE.relative_to(ROOT)),
        "recipe_sha256": recipe.sha256(),
        "commit": commit(),
        "seed": recipe.seed,
        "machine": device_info(device),
        "budget_s": args.budget_s,
        "probe": {k: round(v, 5) for k, v in timing.items()},
        "plan": {
            "pretrain_epochs": pretrain,
            "stage_epochs": [[n, s["epochs"]] for n, s in zip(stages, raw["stages"], strict=True)],
        },
        "model": recipe.model.model_dump(),
        "train_images": len(train),
        "test_images": len(test),
        "paper_winograd_sparsity": PAPER_SPARSITY,
        "status": "running",
        "stages": [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    stage_seconds: dict[int, float] = {}  # filled in when the pipeline returns

    def write(progress: Progress) -> None:
        if -1 in progress.last:
            result["dense_top1"] = progress.last[-1].metrics["top1"]
        result["pretrain_seconds"] = stage_seconds.get(-1)
        result["stages"] = reached_stages(progress, recipe)
        for row in result["stages"]:
            row["seconds"] = stage_seconds.get(row["stage"])
        result["curve"] = progress.curve
        result["wall_s"] = round(time.perf_counter() - started, 1)
        args.out.write_text(json.dumps(result, indent=1))

    print(f"probe: {result['probe']}", flush=True)
    print(
        f"plan: pretrain {pretrain} epochs, stages {stages} (budget left {budget:.0f} s)",
        flush=True,
    )
    if args.plan_only:
        return
    work = args.work / "vgg-nagadomi-cifar10"
    shutil.rmtree(work, ignore_errors=True)
    progress = Progress(write, deadline=started + args.budget_s)
    outcome = Pipeline(recipe, work, progress).run()
    result["status"] = outcome.status
    stage_seconds.update({row["stage"]: round(row["seconds"], 1) for row in outcome.stages})
    write(progress)
    print(markdown(result))
    print(f"wrote {args.out} ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
