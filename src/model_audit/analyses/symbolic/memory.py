"""Memory as formulas: the memory analysis' step, measured at every shape a symbolic audit fits.

With ``memory=`` a symbolic audit adds to each fitting point what the memory analysis measures
there (``analysis.measure``, the same step as ``summary.memory``): the step's activation and peak
bytes (summary scalars) and each layer's saved-activation bytes (``layers[].memory.saved_bytes``)
become more components of the same exact fit as MACs and FLOPs. The base point is the concrete
audit's own memory figures, so they are not measured twice. The peak is a max over the step and may
be piecewise: the memory metrics are fitted leniently (a failure is reported, not raised).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn

from ...target.inputs import InputSpec
from ..memory.analysis import MemoryOptions, measure

TOTALS = ("activations_bytes", "peak_bytes")  # summary.memory's figures fitted as formulas
LAYER_METRIC = "activations_bytes"  # layers[].symbolic name of layers[].memory.saved_bytes

Rows = dict[str, tuple[int, ...]]


class MemoryPoints:
    """The memory components of a fitting point: per-layer saved bytes and the step's totals."""

    def __init__(self, model: nn.Module, options: MemoryOptions, mode: str) -> None:
        self.model = model
        self.options = options
        self.mode = mode

    def base(self, graph: Any) -> tuple[dict[str, int], dict[str, int]]:
        """The concrete audit's figures: (layer -> saved bytes for layers it measured, totals)."""
        summary = graph.summaries["memory"]
        saved = {layer.name: layer.attrs["memory"]["saved_bytes"] for layer in graph.layers
                 if layer.executed and layer.attrs.get("memory") is not None}
        return saved, {name: summary[name] for name in TOTALS}

    def __call__(self, specs: Sequence[InputSpec]) -> tuple[dict[str, int], dict[str, int]]:
        args = tuple(spec.build(torch.device("meta")) for spec in specs)
        step = measure(self.model, args, {}, self.options, self.mode)
        saved = {name: stats.saved_bytes for name, stats in step.layers.items()}
        return saved, {"activations_bytes": step.activations_bytes, "peak_bytes": step.peak_bytes}


def with_memory(costs: Mapping[str, Sequence[int]], saved: Mapping[str, int]) -> Rows:
    """Each layer's (macs, flops) row with its saved bytes appended (0 where the step saved nothing)."""
    return {name: (*row, saved.get(name, 0)) for name, row in costs.items()}


Point = Callable[[dict[str, int]], tuple[Rows, dict[str, int]]]  # sizes -> (rows, totals), as fit_costs takes


def counter(count: Callable[[Sequence[InputSpec]], Mapping[str, Sequence[int]]], points: MemoryPoints,
            specs_at: Callable[[dict[str, int]], list[InputSpec]]) -> Point:
    """A fitting point's rows and totals: the counting run, then the memory step at the same sizes."""
    def at(values: dict[str, int]) -> tuple[Rows, dict[str, int]]:
        specs = specs_at(values)
        costs = count(specs)
        saved, totals = points(specs)
        return with_memory(costs, saved), totals
    return at


def keep_layers(result: Any, measured: Mapping[str, int]) -> None:
    """Only layers the memory analysis has a figure for at the base keep a saved-bytes formula (a
    functional op's saved tensors count toward the module that called it, as in ``layers[].memory``)."""
    result.layer_extra = {name: row for name, row in result.layer_extra.items() if name in measured}
    prefix = f"{LAYER_METRIC} of "
    result.unfitted = {key: why for key, why in result.unfitted.items()
                       if not key.startswith(prefix) or key[len(prefix):] in measured}


def note(result: Any) -> str:
    """The sentence the report's notes get: which memory figures are formulas, and which are not."""
    fitted = [name for name, poly in result.extra.items() if poly is not None]
    parts = []
    if fitted:
        parts.append(f"{' and '.join(fitted)} (and each layer's saved activations) fitted on the same shapes from "
                     "the memory step measured at each")
    for name, why in result.unfitted.items():
        parts.append(f"{name} is not one polynomial on the fitted range ({why}); summary.memory has the "
                     "figure at the base sizes")
    return "; ".join(parts)
