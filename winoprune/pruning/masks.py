"""Pruning masks: parameter name -> bool tensor (True = pruned), kept exactly zero in training.

Optimizer momentum and weight decay move pruned entries away from zero after every step, so the
masks must be re-applied before every forward pass and before evaluation (paper-spec 9):
``MaskSet.apply(model)`` does it once, ``MaskSet.install_hooks(model)`` does it automatically in a
forward pre-hook of each masked module. Masks of successive stages are nested (``merge`` = OR).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from winoprune.pruning.dwm import dwm_winograd_mask
from winoprune.winograd.dwm import DWMConv2d
from winoprune.winograd.layers import WinogradConv2d


class MaskSet(Mapping[str, torch.Tensor]):
    """Read-only mapping of parameter names ("features.3.weight") to bool masks, True = pruned."""

    def __init__(self, masks: Mapping[str, torch.Tensor] | None = None) -> None:
        self._masks: dict[str, torch.Tensor] = {}
        for name, mask in (masks or {}).items():
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"masks[{name!r}]: must be a tensor, got {type(mask).__name__}")
            self._masks[name] = mask.detach().to(torch.bool)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._masks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __repr__(self) -> str:
        parts = [f"{n}: {self.sparsity(n):.3f}" for n in self._masks]
        return f"MaskSet({', '.join(parts)})"

    def sparsity(self, name: str) -> float:
        """Fraction of pruned entries of one mask."""
        mask = self._masks[name]
        return float(mask.sum().item()) / max(mask.numel(), 1)

    def to(self, device: torch.device | str) -> MaskSet:
        """A copy with every mask on ``device``."""
        return MaskSet({n: m.to(device) for n, m in self._masks.items()})

    def updated(self, masks: Mapping[str, torch.Tensor]) -> MaskSet:
        """A copy with the given entries replaced (or added)."""
        return MaskSet({**self._masks, **masks})

    def merge(self, other: Mapping[str, torch.Tensor]) -> MaskSet:
        """Element-wise OR with another mask set (entries in only one side are kept)."""
        merged = dict(self._masks)
        for name, mask in other.items():
            if name in merged:
                if merged[name].shape != mask.shape:
                    raise ValueError(
                        f"masks[{name!r}]: shapes {tuple(merged[name].shape)} and "
                        f"{tuple(mask.shape)} differ"
                    )
                merged[name] = merged[name] | mask.to(merged[name].device, torch.bool)
            else:
                merged[name] = mask
        return MaskSet(merged)

    def apply(self, model: nn.Module) -> None:
        """Zero the pruned entries of the model's parameters in place (no autograd record)."""
        params = dict(model.named_parameters())
        for name, mask in self._masks.items():
            if name not in params:
                raise ValueError(f"masks: {name!r} is not a parameter of the model")
            _zero_pruned(params[name], mask, name)

    def install_hooks(self, model: nn.Module) -> RemovableHandle:
        """Forward pre-hooks that apply the masks before every forward pass of the masked modules.

        Returns one handle; ``handle.remove()`` removes all the hooks. Apply the masks once more
        before saving or measuring weights outside a forward pass (``apply``).
        """
        self.apply(model)  # validates every name and shape now, not at the first forward
        params = dict(model.named_parameters())
        handles = []
        for name, cpu_or_device_mask in self._masks.items():
            module_name, _, param_name = name.rpartition(".")
            module = model.get_submodule(module_name)
            mask = cpu_or_device_mask.to(params[name].device)  # once, not at every forward

            def hook(
                mod: nn.Module,
                args: object,
                param_name: str = param_name,
                mask: torch.Tensor = mask,
                name: str = name,
            ) -> None:
                _zero_pruned(getattr(mod, param_name), mask, name)

            handles.append(module.register_forward_pre_hook(hook))
        return _HandleGroup(handles)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """{name: uint8 tensor (1 = pruned)} on the CPU, storable with safetensors."""
        return {n: m.to("cpu", torch.uint8).contiguous() for n, m in self._masks.items()}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> MaskSet:
        """Inverse of ``state_dict`` (any nonzero entry = pruned)."""
        return cls({name: tensor != 0 for name, tensor in state.items()})


class _HandleGroup(RemovableHandle):
    """A RemovableHandle that removes several hooks at once."""

    def __init__(self, handles: list[RemovableHandle]) -> None:
        self._handles = handles

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> _HandleGroup:
        return self

    def __exit__(self, *args: object) -> None:
        self.remove()


def _zero_pruned(param: torch.Tensor, mask: torch.Tensor, name: str) -> None:
    if param.shape != mask.shape:
        raise ValueError(
            f"masks[{name!r}]: shape {tuple(mask.shape)} does not match the parameter's "
            f"{tuple(param.shape)} (convert spatial masks after convert_model: winograd_masks)"
        )
    # .data: an in-place write on a parameter already used in this graph (shared modules) would
    # otherwise fail backward's version check; the values written are zeros either way.
    param.data.masked_fill_(mask.to(param.device), 0.0)


def masks_from_zeros(model: nn.Module, names: list[str]) -> MaskSet:
    """Masks ``weight == 0`` of the named modules' weights (e.g. after loading a pruned model)."""
    params = dict(model.named_parameters())
    return MaskSet({f"{n}.weight": params[f"{n}.weight"].detach() == 0 for n in names})


def winograd_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> MaskSet:
    """Masks after ``convert_model``: spatial masks of converted layers become Winograd masks.

    For a layer now a WinogradConv2d whose mask is still spatial (K, C, r, r), position (i, j)
    of (k, c) is pruned iff ``Q = G W G^T`` is exactly 0 there: ``Q == 0`` on the converted
    weights, OR-ed with the structural rule (every weight of ``S_ij`` masked, i.e.
    ``|G| ~mask |G|^T == 0``) so the result is right even if the masks were not applied before
    the conversion. A DWMConv2d's spatial mask (K, C, kh, kw) becomes its packed (K, C, P)
    mask by the same rule per piece. Other entries are returned unchanged.
    """
    converted: dict[str, torch.Tensor] = {}
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"masks: {name!r} is not a parameter of the model")
        module_name, _, _ = name.rpartition(".")
        module = model.get_submodule(module_name)
        if isinstance(module, DWMConv2d) and mask.shape != module.weight.shape:
            kernel = module.layout.kernel
            if mask.dim() != 4 or tuple(mask.shape[2:]) != kernel:
                raise ValueError(
                    f"masks[{name!r}]: shape {tuple(mask.shape)} is not (K, C, {kernel[0]}, "
                    f"{kernel[1]})"
                )
            structural = dwm_winograd_mask(mask, module.layout).to(module.weight.device)
            converted[name] = structural | (module.weight.detach() == 0)
            continue
        if not isinstance(module, WinogradConv2d) or mask.shape == module.weight.shape:
            converted[name] = mask
            continue
        r = module.transform.r
        if mask.dim() != 4 or tuple(mask.shape[2:]) != (r, r):
            raise ValueError(f"masks[{name!r}]: shape {tuple(mask.shape)} is not (K, C, {r}, {r})")
        g = module.transform.G.abs().to(mask.device)
        structural = (g @ (~mask).double() @ g.T) == 0
        converted[name] = structural.to(module.weight.device) | (module.weight.detach() == 0)
    return MaskSet(converted)
