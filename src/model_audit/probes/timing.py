"""Per-layer forward/backward time: CUDA events on the GPU (wall clock on CPU), and achieved FLOP/s.

Forward time of a layer runs from its forward pre-hook to its forward hook. Backward time runs
from the moment the gradient of the layer's output is ready (a tensor hook on the output) to the
moment the gradient of its input is ready (a tensor hook on the input); tensor hooks, unlike
``register_full_backward_hook``, do not wrap the outputs, so in-place ops after the layer still
work. When an input is shared by several consumers (a residual), its gradient is ready only after
all of them: that layer's backward time is an upper bound. The first layer's input needs no
gradient, so its backward time is not measured. Achieved FLOP/s = counted FLOPs / measured time.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch
import torch.nn as nn

from ..ir.graph import LayerGraph
from ..trace.shapes import iter_tensors


class _WallMark:
    """A CPU stand-in for ``torch.cuda.Event`` (CPU kernels are synchronous, so wall time is the time)."""

    def __init__(self) -> None:
        self.t = 0.0

    def record(self) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, end: "_WallMark") -> float:
        return (end.t - self.t) * 1e3


def _mark_factory(device: torch.device) -> Callable[[], Any]:
    if device.type == "cuda":
        return lambda: torch.cuda.Event(enable_timing=True)
    return _WallMark


class LayerTimer:
    """Hooks that record forward and backward marks for the first call of each module layer."""

    def __init__(self, graph: LayerGraph, device: torch.device) -> None:
        self.device = device
        self.mark = _mark_factory(device)
        self.names = {}
        for layer in graph.layers:
            if layer.module is not None and layer.kind != "parameter" and "@" not in layer.name:
                self.names.setdefault(id(layer.module), (layer.name, layer.module))
        self.marks: dict[str, dict[str, Any]] = {}
        self.handles: list[Any] = []

    def __enter__(self) -> "LayerTimer":
        for key, (name, module) in self.names.items():
            self.handles.append(module.register_forward_pre_hook(self._pre(name)))
            self.handles.append(module.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _set(self, name: str, key: str) -> None:
        marks = self.marks.setdefault(name, {})
        if key not in marks:  # first call only
            mark = self.mark()
            mark.record()
            marks[key] = mark

    def _pre(self, name: str):
        def hook(module: nn.Module, args: Any) -> None:
            if "fwd_start" in self.marks.get(name, {}):
                return
            for t in iter_tensors(args):
                if t.requires_grad:
                    t.register_hook(lambda grad, n=name: self._set(n, "bwd_end"))
                    break
            self._set(name, "fwd_start")
        return hook

    def _post(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if "fwd_end" in self.marks.get(name, {}):
                return
            self._set(name, "fwd_end")
            for t in iter_tensors(output):
                if t.requires_grad:
                    t.register_hook(lambda grad, n=name: self._set(n, "bwd_start"))
                    break
        return hook

    def results(self, flops: dict[str, int]) -> dict[str, dict[str, float | None]]:
        """name -> forward_ms, backward_ms, flops_per_s (forward FLOPs / forward time)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        out: dict[str, dict[str, float | None]] = {}
        for name, marks in self.marks.items():
            fwd = marks["fwd_start"].elapsed_time(marks["fwd_end"]) if {"fwd_start", "fwd_end"} <= marks.keys() else None
            bwd = marks["bwd_start"].elapsed_time(marks["bwd_end"]) if {"bwd_start", "bwd_end"} <= marks.keys() else None
            counted = flops.get(name, 0)
            out[name] = {
                "forward_ms": fwd,
                "backward_ms": bwd,
                "flops_per_s": counted / (fwd / 1e3) if fwd and counted else None,
            }
        return out
