"""Counting MACs/FLOPs at the ATen dispatch level and attributing them to the active layer.

A ``TorchDispatchMode`` sees every ATen op a module or functional call lowers to — including
functional calls that hook-based counters miss — after autograd has decomposed composite ops
(so ``einsum``/``matmul``/``linear`` arrive as ``mm``/``bmm``/``addmm``).
"""
from __future__ import annotations

from typing import Any, Callable

from torch.utils._python_dispatch import TorchDispatchMode

from ..ir.graph import Layer
from .meta_cache import META_KERNELS
from ..analyses.costs import Cost, has_cost, op_cost, op_name

UnownedHandler = Callable[[Any, tuple, dict, Any, "Cost | None"], "Layer | None"]


_LEAVES: dict[int, Any] = {}  # id(op) -> op, for ops with no decomposition (views, most kernels)


def _decomposed(mode: TorchDispatchMode, func: Any, args: tuple, kwargs: dict) -> Any:
    """Composite ops with no formula reach a mode undecomposed under inference_mode (conv2d, linear,
    batch_norm): run their decomposition under ``mode`` so that the ops they lower to are seen, as
    FlopCounterMode does. NotImplemented: a leaf op (whether an op has a decomposition is a property
    of the op: remembered, so that leaves skip entering the mode on every call)."""
    if id(func) in _LEAVES:
        return NotImplemented
    with mode:
        decomposed = func.decompose(*args, **kwargs)
    if decomposed is NotImplemented:
        _LEAVES[id(func)] = func
    return decomposed


def _dispatch(mode: TorchDispatchMode, func: Any, args: tuple, kwargs: dict, checked: bool) -> tuple[bool, Any]:
    """(False, result) when ``func`` ran as its decomposition (its parts went through ``mode``),
    else (True, its output from the meta kernels; ``checked``: with the real kernels' dtype checks)."""
    if not has_cost(func):
        decomposed = _decomposed(mode, func, args, kwargs)
        if decomposed is not NotImplemented:
            return False, decomposed
    return True, META_KERNELS.call(func, args, kwargs, checked=checked)


class OpCounter(TorchDispatchMode):
    """Adds each op's cost to ``sink`` (the layer now running); unknown ops become uncounted."""

    def __init__(self, on_unowned: UnownedHandler | None = None) -> None:
        super().__init__()
        self.sink: Layer | None = None
        self.backward = False
        self.on_unowned = on_unowned
        self.index_guard: Any = None  # trace/index_guard.IndexGuard when user inputs have values
        self.unowned_macs = 0  # backward work before the first layer's gradient hook fires
        self.unowned_flops = 0
        self.unowned_forward_macs = 0  # forward work outside any layer: in the totals, never dropped
        self.unowned_forward_flops = 0
        self.unowned_uncounted: dict[str, int] = {}
        # (layer or None, func, args, kwargs, out, cost) of every forward op, when a symbolic audit
        # asks: the sizes its formulas are evaluated from (analyses/symbolic/sizes.py). None: not kept.
        self.record: list[tuple[Layer | None, Any, tuple, dict, Any, Cost | None]] | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        leaf, out = _dispatch(self, func, args, kwargs, checked=True)
        if not leaf:
            return out
        if self.index_guard is not None:  # user-given embedding ids, checked on meta too
            self.index_guard.check(func, args, out)
        layer = self.sink
        cost = op_cost(func, args, kwargs, out)
        if layer is None and self.on_unowned is not None and not self.backward:
            layer = self.on_unowned(func, args, kwargs, out, cost)
        if self.record is not None and not self.backward:
            self.record.append((layer, func, args, kwargs, out, cost))
        if layer is None:
            if cost is None:
                name = op_name(func) + (" (backward)" if self.backward else "")
                self.unowned_uncounted[name] = self.unowned_uncounted.get(name, 0) + 1
            elif self.backward:
                self.unowned_macs += cost.macs
                self.unowned_flops += cost.flops
            else:
                self.unowned_forward_macs += cost.macs
                self.unowned_forward_flops += cost.flops
            return out
        if cost is None:
            name = op_name(func)
            if self.backward:
                name += " (backward)"
            layer.uncounted_ops[name] = layer.uncounted_ops.get(name, 0) + 1
        elif self.backward:
            layer.backward_macs = (layer.backward_macs or 0) + cost.macs
            layer.backward_flops = (layer.backward_flops or 0) + cost.flops
        else:
            layer.macs += cost.macs
            layer.flops += cost.flops
        return out


class OpRecorder(TorchDispatchMode):
    """Records each forward op with its arguments and output, and nothing else: the ops a symbolic
    audit's plain counting runs read their sizes from (``analyses/symbolic``). The same ops as
    :class:`OpCounter` sees (the same decompositions); no costs (the caller computes those it needs),
    no layers, and no meta dtype checks: the concrete audit made them on the same ops."""

    def __init__(self) -> None:
        super().__init__()
        self.record: list[tuple[Any, tuple, dict, Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        leaf, out = _dispatch(self, func, args, kwargs, checked=False)
        if leaf:
            self.record.append((func, args, kwargs, out))
        return out
