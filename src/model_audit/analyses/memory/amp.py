"""``torch.autocast`` on meta tensors: the casts autocast would insert, inserted above autograd.

Autocast is a dispatch key of real backends (AutocastCPU, AutocastCUDA); meta tensors never reach
it, so ``torch.autocast`` changes nothing on meta. A ``TorchFunctionMode`` (above autograd, where
autocast works) applies the same policy: ops on the lower-precision list get their floating
inputs cast to the autocast dtype, ops on the fp32 list get them cast to float32, the rest run in
their inputs' dtype. Casts are recorded by autograd as autocast's are, so the low-precision copies
a layer saves for backward (the bf16 weight a linear keeps) are counted; casts of leaf tensors
that require grad are cached for the step, as autocast's weight cast cache does. The lists are
PyTorch's (``aten/src/ATen/autocast_mode.cpp``), for the ops models use; ``cpu`` and ``cuda``
differ (on CUDA, softmax, layer_norm, sum, exp... run in float32).

A mode is off while it handles a call, so the ops inside a Python composite of
``torch.nn.functional`` (``multi_head_attention_forward``: in-projection, attention, out-projection)
would bypass it, where real autocast, a dispatch key, sees each of them. Such a composite runs as a
copy whose entry check (``has_torch_function``) is off, with the mode on: its inner ops meet the policy.
"""
from __future__ import annotations

import contextlib
from types import FunctionType
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from ...ir import ops

LOWER = ops.AUTOCAST_LOWER_PRECISION
FP32 = ops.AUTOCAST_FP32

_active: list["AutocastOnMeta"] = []
_ENTRY_CHECKS = ("has_torch_function", "has_torch_function_unary", "has_torch_function_variadic")


def _never(*args: Any, **kwargs: Any) -> bool:
    return False


def _composite(func: FunctionType) -> FunctionType:
    """``func`` with its torch-function entry check off (its module's globals as they are now, so patches
    such as the fused-attention one apply)."""
    scope = {**func.__globals__, **{name: _never for name in _ENTRY_CHECKS}}
    copy = FunctionType(func.__code__, scope, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    return copy


class AutocastOnMeta(TorchFunctionMode):
    """Autocast's cast policy for ``device`` ("cpu" or "cuda") and ``dtype``, on any tensors."""

    def __init__(self, device: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.device = "cuda" if device.startswith("cuda") else "cpu"
        self.dtype = dtype
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.inside: set[Any] = set()  # composites running with the mode on (a nested check must not recurse)

    def cast(self, obj: Any, dtype: torch.dtype) -> Any:
        def one(t: Any) -> Any:
            if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dtype == dtype or t.dtype == torch.float64:
                return t
            if t.is_leaf and t.requires_grad and dtype == self.dtype:
                hit = self.cache.get(id(t))
                if hit is None or hit[0] is not t:
                    hit = (t, t.to(dtype))
                    self.cache[id(t)] = hit
                return hit[1]
            return t.to(dtype)
        return tree_map(one, obj)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in LOWER:
            args, kwargs = self.cast(args, self.dtype), self.cast(kwargs, self.dtype)
        elif name in FP32[self.device]:
            args, kwargs = self.cast(args, torch.float32), self.cast(kwargs, torch.float32)
        elif (isinstance(func, FunctionType) and func.__module__ == "torch.nn.functional"
              and func not in self.inside):
            self.inside.add(func)
            try:
                with self:
                    return _composite(func)(*args, **kwargs)
            finally:
                self.inside.discard(func)
        return func(*args, **kwargs)


@contextlib.contextmanager
def autocast_on_meta(device: str, dtype: torch.dtype | None) -> Iterator[AutocastOnMeta | None]:
    if dtype is None:
        yield None
        return
    mode = AutocastOnMeta(device, dtype)
    _active.append(mode)
    try:
        with mode:
            yield mode
    finally:
        _active.pop()


def current() -> AutocastOnMeta | None:
    """The active emulation (the fused-attention patch casts its inputs through it)."""
    return _active[-1] if _active else None
