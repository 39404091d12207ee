"""Run a model on another device without touching it: swap parameters, buffers and tensor attributes.

Parameters become meta (or CPU) stand-ins for the duration of one audit; buffers and tensors kept
as plain attributes (anchors, rotary caches, masks, lists of them, RNN ``_flat_weights``) are
always replaced by copies, so that neither a train-mode BatchNorm nor the model's own in-place
writes can change the user's values. Tied tensors stay tied (one stand-in per original tensor).
Lazy parameters get fresh uninitialised stand-ins, so materializing them never touches the
user's. Every slot is put back afterwards; :func:`preserved_state` also restores whatever else
the model's code wrote (see :mod:`.untouched`).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy

from .untouched import untouched


def _stand_in(t: torch.Tensor, device: torch.device, is_buffer: bool) -> torch.Tensor:
    if is_lazy(t):
        kind = UninitializedBuffer if is_buffer else UninitializedParameter
        return kind(requires_grad=t.requires_grad, device=device, dtype=t.dtype)
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
    """Swap every parameter/buffer/tensor attribute of ``model`` for a stand-in on ``device``.

    Yields id(orig) -> stand-in; every swapped slot is restored on exit.
    """
    memo: dict[int, torch.Tensor] = {}
    saved: list[tuple[dict, str, object]] = []
    try:
        for module in model.modules():
            for store, is_buffer in ((module._parameters, False), (module._buffers, True)):
                for name, tensor in list(store.items()):
                    if tensor is None:
                        continue
                    new = memo.get(id(tensor))
                    if new is None:
                        if not is_buffer and tensor.device == device and not is_lazy(tensor):
                            # same device: share the storage (no copy) but not the Parameter object,
                            # so a counted backward pass cannot leave .grad on the user's parameters
                            new = nn.Parameter(tensor.detach(), requires_grad=tensor.requires_grad)
                        else:
                            stand_in = _stand_in(tensor, device, is_buffer)
                            new = (nn.Parameter(stand_in, requires_grad=tensor.requires_grad)
                                   if not is_buffer and not is_lazy(tensor) else stand_in)
                        memo[id(tensor)] = new
                    saved.append((store, name, tensor))
                    store[name] = new
        for module in model.modules():  # after all parameters: attributes may alias them
            attrs = module.__dict__
            for name, value in list(attrs.items()):
                new = _attribute_stand_in(value, device, memo)
                if new is not None:
                    saved.append((attrs, name, value))
                    attrs[name] = new
        yield memo
    finally:
        for store, name, value in reversed(saved):
            store[name] = value


def _attribute_stand_in(value: object, device: torch.device, memo: dict[int, torch.Tensor]) -> object | None:
    """A stand-in for a plain tensor attribute or a list/tuple of tensors; None for anything else."""
    if isinstance(value, torch.Tensor):
        if id(value) not in memo:
            memo[id(value)] = _stand_in(value, device, is_buffer=True)
        return memo[id(value)]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        items = [_attribute_stand_in(v, device, memo) for v in value]
        return items if isinstance(value, list) else type(value)(items) if type(value) is tuple else None
    return None


def model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def preserved_state(model: nn.Module, training: bool) -> Iterator[None]:
    """Set train/eval mode for the audit; afterwards restore every module's flag and all the state
    the run wrote (attributes, caches, class, hooks, global RNG: :func:`.untouched.untouched`)."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        with untouched(model):
            model.train(training)
            yield
    finally:
        for module, flag in flags:
            module.training = flag


def lazy_names(model: nn.Module) -> list[str]:
    """Qualified names of parameters/buffers a LazyModule has not materialized yet."""
    named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    return [name for name, tensor in named if is_lazy(tensor)]
