"""Run the op chain of an export: ``SparseModel(ops, tensors, tf)(x)`` -> logits (N, classes).

Ops and tensors are those of ``graph.trace_ops`` (float32, Q dense (K, C, a, a) per Winograd
layer); each Winograd layer becomes a ``conv.SparseWinogradConv`` with its own product strategy,
and a ReLU and a 2x2/2 max-pool right after one are applied inside it (the full-size output is
never written).
Inference only: everything runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from winoprune.runtime.conv import SparseWinogradConv
from winoprune.winograd.transforms import WinogradTransform

Step = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _is_pool_2x2(op: dict[str, Any]) -> bool:
    return op["op"] == "maxpool" and (op["kernel"], op["stride"], op["padding"]) == (2, 2, 0)


def _step(
    op: dict[str, Any], ts: dict[str, Any], tf: WinogradTransform, strategy: str | None
) -> Step:
    kind = op["op"]
    if kind == "winograd_conv":
        return SparseWinogradConv(ts["q"], ts.get("bias"), tf, op["padding"], strategy)
    if kind == "conv":
        w, b, s, p = ts["weight"], ts.get("bias"), op["stride"], op["padding"]
        return lambda x: F.conv2d(x, w, b, stride=s, padding=p)
    if kind == "linear":
        w, b = ts["weight"], ts.get("bias")
        return lambda x: F.linear(x, w, b)
    if kind == "relu":
        return lambda x: x.relu_()
    if kind == "maxpool":
        k, s, p = op["kernel"], op["stride"], op["padding"]
        return lambda x: F.max_pool2d(x, k, s, p)
    if kind == "avgpool":
        return lambda x: F.adaptive_avg_pool2d(x, 1)
    if kind == "flatten":
        return lambda x: torch.flatten(x, 1)
    raise ValueError(f"manifest: unknown op {kind!r}")


class SparseModel:
    """An exported model, runnable: ``model(x)`` with x (N, C, H, W) float32 on the CPU.

    ``strategy`` forces one product strategy on every Winograd layer (benchmarks compare them);
    None lets each layer choose from its density (``conv.choose_strategy``).
    """

    def __init__(
        self,
        ops: list[dict[str, Any]],
        tensors: dict[str, dict[str, torch.Tensor]],
        tf: WinogradTransform,
        strategy: str | None = None,
    ) -> None:
        self.ops, self.tf, self.tensors = ops, tf, tensors
        self.steps = [
            _step(op, {k: v for k, v in tensors.get(op.get("name", ""), {}).items()}, tf, strategy)
            for op in ops
        ]
        self._arena = threading.local()  # output buffers of the compiled layers, by step
        for i, step in enumerate(self.steps):  # a ReLU / 2x2 max-pool after it run inside it
            if not isinstance(step, SparseWinogradConv):
                continue
            j = i + 1
            if j < len(ops) and ops[j]["op"] == "relu":
                step.relu, self.steps[j] = True, _identity
                j += 1
            if j < len(ops) and _is_pool_2x2(ops[j]) and tf.m % 2 == 0:
                step.pool, self.steps[j] = True, _identity

    def layer_strategies(self) -> dict[str, str]:
        """The product strategy of each Winograd layer, by name."""
        return {
            op["name"]: step.strategy
            for op, step in zip(self.ops, self.steps, strict=True)
            if isinstance(step, SparseWinogradConv)
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, None)

    def timed(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The output and seconds spent in each named op (conv, Winograd conv, linear)."""
        seconds: dict[str, float] = {}
        return self._run(x, seconds), seconds

    def _run(self, x: torch.Tensor, seconds: dict[str, float] | None) -> torch.Tensor:
        """The op chain. Compiled Winograd layers write into buffers this model keeps per
        calling thread and reuses on the next call (memory planning: fresh pages cost a fault
        each, about 4 ms per 8 MB here); the result is copied out if it lies in one."""
        buffers: dict[int, torch.Tensor] = self._arena.__dict__.setdefault("buffers", {})
        with torch.inference_mode():
            x = x.float().contiguous()
            for i, (op, step) in enumerate(zip(self.ops, self.steps, strict=True)):
                start = time.perf_counter()
                if isinstance(step, SparseWinogradConv) and step.strategy == "compiled":
                    shape = step.output_shape(x.shape)
                    if i not in buffers or buffers[i].shape != shape:
                        buffers[i] = torch.empty(shape, dtype=torch.float32)
                    x = step(x, out=buffers[i])
                else:
                    x = step(x)
                if seconds is not None and "name" in op:
                    seconds[op["name"]] = time.perf_counter() - start
            pooled = {b.untyped_storage().data_ptr() for b in buffers.values()}
            if x.untyped_storage().data_ptr() in pooled:
                x = x.clone()  # the next call would overwrite it
            return x
