"""Device selection and the software a run executes on (recorded with the run)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import torch

DEVICE_COLUMN_CHARS = 64  # runs.device


def select_device(requested: str) -> torch.device:
    """The device for a recipe's ``device``: "auto" = CUDA when present (the first device that
    CUDA_VISIBLE_DEVICES leaves visible: run one worker per GPU), else CPU.

    Raises ValueError when the recipe asks for CUDA on a worker without it.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: the recipe asks for {requested} but this worker has no CUDA")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: {requested} is not visible here ({torch.cuda.device_count()} device(s))"
            )
    return device


def describe_device(device: torch.device) -> str:
    """E.g. "cuda:0 NVIDIA H100 80GB HBM3" or "cpu", cut to the runs.device column."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} {torch.cuda.get_device_name(index)}"[:DEVICE_COLUMN_CHARS]


def software_versions(device: torch.device) -> dict[str, str]:
    """torch, Python and winoprune versions (plus CUDA's on a GPU)."""
    try:
        winoprune_version = version("winoprune")
    except PackageNotFoundError:
        winoprune_version = "unknown"
    found = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "winoprune": winoprune_version,
        "host": platform.node(),
    }
    if device.type == "cuda" and torch.version.cuda:
        found["cuda"] = str(torch.version.cuda)
    return found
