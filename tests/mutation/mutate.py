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
        ["worker/leases.py", "worker/sweeper.py", "worker/settle.py"],
        ["tests/worker/test_leases.py", "tests/worker/test_lease_races.py"],
    ),
    "authorisation": (
        ["server/projects/service.py", "server/runs/service.py"],
        ["tests/server/test_roles.py", "tests/server/test_projects.py"],
    ),
    "winograd": (
        ["winoprune/winograd/transforms.py", "winoprune/winograd/functional.py"],
        ["tests/core/winograd/test_transforms.py", "tests/core/winograd/test_functional.py"],
    ),
    "pruning": (
        ["winoprune/pruning/*.py"],
        ["tests/core/pruning"],
    ),
    "pipeline": (
        ["winoprune/training/pipeline.py"],
        ["tests/core/training/test_training_invariants.py", "tests/core/training/test_pipeline.py"],
    ),
}


def mutmut_config(modules: list[str], tests: list[str]) -> str:
    quoted = ", ".join(json.dumps(x) for x in modules)
    selected = ", ".join(json.dumps(x) for x in tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["winoprune", "server", "worker"]\n'
        f"only_mutate = [{quoted}]\n"
        'also_copy = ["recipes", "migrations", "alembic.ini", "web"]\n'
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
    subprocess.run([str(MUTMUT), "run", "--max-children", str(max_children)], cwd=work, check=False)
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
        if sep:
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
