"""`make mutate`: mutation testing (mutmut) of the modules that decide results.

Each group mutates a few modules against the fast tests that cover them, in a scratch copy of
the tree (build/mutation/<group>/), so the working tree is never touched and the groups' test
selections stay apart. Prints killed / survived per group, writes
build/mutation/summary.json, and exits 1 when a mutant listed in tests/mutation/must_die.txt
survived (or was not generated: the list is kept in step with the code).

    python tests/mutation/mutate.py [GROUP ...] [--max-children 2]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "build" / "mutation"
MUST_DIE = Path(__file__).with_name("must_die.txt")
MUTMUT = Path(sys.executable).with_name("mutmut")
COPIED = ("winoprune", "server", "worker", "tests", "recipes", "migrations", "web")
FILES = ("pyproject.toml", "alembic.ini")

# group -> (modules mutated, tests run against them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "leases": (
        ["worker/leases.py", "worker/sweeper.py", "worker/settle.py", "worker/scan_sweeper.py"],
        [
            "tests/worker/test_leases.py",
            "tests/worker/test_lease_races.py",
            "tests/worker/test_scan_sweeper.py",
        ],
    ),
    "authorisation": (
        ["server/projects/service.py", "server/runs/service.py"],
        [
            "tests/server/test_roles.py",
            "tests/server/test_projects.py",
            # project-scoped tokens on run lookups and listings; outsiders' 404 on every route
            "tests/server/test_tracking.py::test_a_project_scoped_token_sees_and_feeds_only_its_project",
            "tests/server/test_security.py::test_outsiders_get_404_like_a_missing_id",
        ],
    ),
    "uploads": (
        ["server/artifacts/validation.py"],
        ["tests/server/test_artifacts.py", "tests/server/test_wrelu_uploads.py"],
    ),
    "winograd": (
        ["winoprune/winograd/transforms.py", "winoprune/winograd/functional.py"],
        [
            "tests/core/winograd/test_transforms.py",
            "tests/core/winograd/test_functional.py",
            # chosen points (cook_toom / parse_point), the accurate sums and huffman order, and
            # the separable / on_tiles / mask_grad branches of _tiled_forward and _tiled_backward
            "tests/core/winograd/test_points.py",
            "tests/core/winograd/test_accurate.py",
            "tests/core/winograd/test_relu.py",
        ],
    ),
    "pruning": (
        # winograd-direct pruning and the F_hat gradient scaling, the masks and their hooks
        [
            "winoprune/pruning/winograd.py",
            "winoprune/pruning/masks.py",
            "winoprune/winograd/importance.py",
        ],
        ["tests/core/pruning", "tests/core/winograd/test_importance.py"],
    ),
    "pipeline": (
        ["winoprune/training/pipeline.py", "winoprune/training/loop.py"],
        [
            "tests/core/training/test_training_invariants.py::"
            "test_masked_weights_are_zero_at_every_forward_and_winograd_steps_are_scaled",
            "tests/core/training/test_training_invariants.py::"
            "test_a_resumed_run_with_dropout_equals_an_uninterrupted_one_exactly[11]",
            "tests/core/training/test_training_invariants.py::"
            "test_precond_sgd_steps_use_the_natural_gradient_with_the_recipes_damping",
        ],
    ),
}

# group -> the functions mutated (mutmut name patterns; absent: every function of its modules).
# The pipeline's tests train real models (10-30 s each): only the step hooks and the resume.
FUNCTIONS: dict[str, list[str]] = {
    # the access rule and the run lookups every run route goes through
    "authorisation": [
        f"server.{module}.service.x_{function}*"
        for module, functions in (
            ("projects", ("token_project", "member_project_ids", "role_in", "require_role")),
            ("projects", ("check_rank",)),
            ("runs", ("get_run", "require_run", "_scoped")),
        )
        for function in functions
    ],
    "uploads": ["server.artifacts.validation.x_check_weights*"],
    # the F_hat gradient scaling, winograd-direct pruning, and applying / hooking / merging masks
    "pruning": [
        "winoprune.pruning.winograd.xǁWinogradGradScalerǁapply*",
        "winoprune.pruning.winograd.x_importance_scores*",
        "winoprune.pruning.winograd.x_prune_winograd_direct*",
        "winoprune.winograd.importance.x_scale_gradient*",
        "winoprune.pruning.masks.xǁMaskSetǁapply*",
        "winoprune.pruning.masks.xǁMaskSetǁinstall_hooks*",
        "winoprune.pruning.masks.xǁMaskSetǁmerge*",
        "winoprune.pruning.masks.x__zero_pruned*",
    ],
    # the Toom-Cook construction and the conv's passes; not point_labels (labels for reports) or
    # _check_inputs (it only accepts or rejects inputs, with messages); mutmut does not mutate the
    # lru_cache'd _cook_toom_cached / transform_matrices / _flat_transforms or the properties
    "winograd": [
        *(
            f"winoprune.winograd.transforms.x_{function}__mutmut_*"
            for function in (
                "_to_tensor",
                "parse_point",
                "default_points",
                "cook_toom",
                "_evaluation",
                "_row_scales",
                "_transpose",
                "_inverse",
                "standard_transform",
            )
        ),
        *(
            f"winoprune.winograd.functional.x_{function}__mutmut_*"
            for function in (
                "separable_transform",
                "_transform_tiles",
                "to_winograd",
                "_tiled_forward",
                "_tiled_backward",
                "winograd_conv2d",
            )
        ),
        "winoprune.winograd.functional.xǁ_WinogradConvǁforward__mutmut_*",
    ],
    # train_epoch: the default start step and the skip / RNG restore of a resumed epoch
    "pipeline": [
        *(f"winoprune.training.loop.x_train_epoch__mutmut_{n}" for n in (1, *range(14, 20))),
        "winoprune.training.pipeline.xǁPipelineǁ_after_step*",
        "winoprune.training.pipeline.xǁPipelineǁ_before_step*",
    ],
}


def mutmut_config(modules: list[str], tests: list[str]) -> str:
    quoted = ", ".join(json.dumps(x) for x in modules)
    selected = ", ".join(json.dumps(x) for x in tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["winoprune", "server", "worker"]\n'
        f"only_mutate = [{quoted}]\n"
        'also_copy = ["recipes", "migrations", "alembic.ini", "web"]\n'
        # workers forked from a process that ran torch deadlock (OpenMP); fork from a clean one
        'process_isolation = "forkserver"\n'
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q", "-m", "not slow"]\n'
        f"pytest_add_cli_args_test_selection = [{selected}]\n"
    )


def prepare(group: str) -> Path:
    """A scratch copy of the tree with the group's mutmut configuration."""
    work = SCRATCH / group
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "mutants")
    for name in COPIED:
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    for name in FILES:
        shutil.copy2(ROOT / name, work / name)
    modules, tests = GROUPS[group]
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + mutmut_config(modules, tests))
    return work


def run_group(group: str, max_children: int) -> dict[str, str]:
    """{mutant name: status} of one group."""
    work = prepare(group)
    patterns = FUNCTIONS.get(group, [])
    command = [str(MUTMUT), "run", "--max-children", str(max_children), *patterns]
    subprocess.run(command, cwd=work, check=False)
    listed = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    statuses = {}
    for line in listed.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and (not patterns or any(fnmatch.fnmatch(name, p) for p in patterns)):
            statuses[name] = status
    return statuses


def must_die() -> set[str]:
    lines = MUST_DIE.read_text().splitlines()
    return {x.split("#")[0].strip() for x in lines if x.split("#")[0].strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"some of {', '.join(GROUPS)} (default all)")
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args()
    args.groups = args.groups or list(GROUPS)
    unknown = sorted(set(args.groups) - set(GROUPS))
    if unknown:
        parser.error(f"groups: unknown {unknown}; known: {', '.join(GROUPS)}")
    summary: dict[str, dict[str, object]] = {}
    statuses: dict[str, str] = {}
    for group in args.groups:
        result = run_group(group, args.max_children)
        statuses.update(result)
        survived = sorted(k for k, v in result.items() if v == "survived")
        summary[group] = {
            "mutants": len(result),
            "killed": sum(v == "killed" for v in result.values()),
            "survived": len(survived),
            "other": sum(v not in ("killed", "survived") for v in result.values()),
            "survivors": survived,
        }
        print(f"{group}: {summary[group]['killed']} killed, {len(survived)} survived "
              f"of {len(result)}")  # fmt: skip
    SCRATCH.mkdir(parents=True, exist_ok=True)
    (SCRATCH / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    prefixes = tuple(m.replace("/", ".").removesuffix(".py") for g in args.groups
                     for m in GROUPS[g][0])  # fmt: skip
    checked = {m for m in must_die() if m.startswith(prefixes)}
    bad = sorted(m for m in checked if statuses.get(m) != "killed")
    for name in bad:
        print(f"MUST DIE but {statuses.get(name, 'was not generated')}: {name}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
