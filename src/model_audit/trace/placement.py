"""Run a model on another device without touching it: swap parameters and buffers, restore after.

Parameters become meta (or CPU) stand-ins for the duration of one audit; buffers are always
replaced by copies so that a train-mode BatchNorm cannot update the user's running statistics.
Tied tensors stay tied (one stand-in per original tensor).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn


def _stand_in(t: torch.Tensor, device: torch.device, is_buffer: bool) -> torch.Tensor:
    if device.type == "meta":
        return torch.empty_like(t, device="meta")
    if t.device.type == "meta":
        # Materialize a meta model on a real device: values are synthetic but finite.
        if not (t.is_floating_point() or t.is_complex()):
            return torch.zeros(t.shape, dtype=t.dtype, device=device)
        if is_buffer:
            return torch.ones(t.shape, dtype=t.dtype, device=device)
        return torch.empty(t.shape, dtype=t.dtype, device=device).normal_(0.0, 0.02)
    return t.detach().to(device).clone() if is_buffer else t.detach().to(device)


@contextmanager
def placed_on(model: nn.Module, device: torch.device) -> Iterator[dict[int, torch.Tensor]]:
    """Swap every parameter/buffer of ``model`` for a stand-in on ``device``; yields id(orig) -> stand-in."""
    memo: dict[int, torch.Tensor] = {}
    saved: list[tuple[dict, str, torch.Tensor]] = []
    try:
        for module in model.modules():
            for store, is_buffer in ((module._parameters, False), (module._buffers, True)):
                for name, tensor in list(store.items()):
                    if tensor is None:
                        continue
                    new = memo.get(id(tensor))
                    if new is None:
                        if not is_buffer and tensor.device == device:
                            # same device: share the storage (no copy) but not the Parameter object,
                            # so a counted backward pass cannot leave .grad on the user's parameters
                            new = nn.Parameter(tensor.detach(), requires_grad=tensor.requires_grad)
                        else:
                            stand_in = _stand_in(tensor, device, is_buffer)
                            new = nn.Parameter(stand_in, requires_grad=tensor.requires_grad) if not is_buffer else stand_in
                        memo[id(tensor)] = new
                    saved.append((store, name, tensor))
                    store[name] = new
        yield memo
    finally:
        for store, name, tensor in reversed(saved):
            store[name] = tensor


def model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def preserved_state(model: nn.Module, training: bool) -> Iterator[None]:
    """Set train/eval mode for the audit and restore every module's own flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.train(training)
        yield
    finally:
        for module, flag in flags:
            module.training = flag
