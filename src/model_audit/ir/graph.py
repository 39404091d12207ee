"""The intermediate representation every analysis annotates and every rule reads.

A ``LayerGraph`` is a topologically ordered list of ``Layer`` objects: one per call of a leaf
module or per functional op. Analyses fill in the figures; nothing here knows about rules or
renderers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch.nn as nn


@dataclass(frozen=True)
class TensorArg:
    """A tensor argument as the IR records it: shape and dtype, no data."""

    shape: tuple[int, ...]
    dtype: str

    def __repr__(self) -> str:
        return f"Tensor{list(self.shape)}"


@dataclass
class Layer:
    """One call of a leaf module, one functional op, or one parameter read (fx ``get_attr``)."""

    name: str
    type: str
    kind: str
    scope: str = ""  # dotted module path that issued the call ("" for the root)
    module: nn.Module | None = field(default=None, repr=False, compare=False)
    target: Any = field(default=None, repr=False, compare=False)  # fx target or function
    inputs: list[str] = field(default_factory=list)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)  # tensor arguments, in order
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    # Functional calls: arguments by parameter name, tensors as TensorArg (see arguments.py).
    arguments: dict[str, Any] = field(default_factory=dict)
    output_dtype: str | None = None
    executed: bool = True
    # Figures filled in by the analyses.
    params: int = 0
    trainable_params: int = 0
    bias_params: int = 0
    norm_params: int = 0
    buffers: int = 0
    shared_params: int = 0  # params this layer uses but that were counted at an earlier layer
    macs: int = 0
    flops: int = 0
    backward_macs: int | None = None
    backward_flops: int | None = None
    uncounted_ops: dict[str, int] = field(default_factory=dict)
    source: str | None = None  # "path/to/file.py:LINE" of the module's class
    attrs: dict[str, Any] = field(default_factory=dict)  # per-analysis extras (e.g. receptive field)

    @property
    def output_shape(self) -> tuple[int, ...] | list[tuple[int, ...]] | None:
        """The single output shape, the list of shapes for tuple outputs, or None."""
        if not self.output_shapes:
            return None
        if len(self.output_shapes) == 1:
            return self.output_shapes[0]
        return list(self.output_shapes)

    @property
    def module_path(self) -> list[str]:
        """The dotted module path this layer belongs to, as parts (functional ops: scope + op name)."""
        if self.module is not None:
            return self.name.split("@")[0].split(".")
        if self.kind == "parameter":
            return self.name.split(".")
        return (self.scope.split(".") if self.scope else []) + [self.name.rsplit(".", 1)[-1]]

    @property
    def depth(self) -> int:
        return self.name.count(".") + 1 if self.module is not None else (
            self.scope.count(".") + 2 if self.scope else 1
        )


@dataclass
class LayerGraph:
    """Topologically ordered layers plus the model they came from."""

    layers: list[Layer]
    model: nn.Module = field(repr=False)
    tracer: str
    device: str
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)  # names layers use for the model's inputs
    output_names: list[str] = field(default_factory=list)  # layers whose outputs the model returns
    unowned_backward_macs: int = 0  # backward work before any layer's gradient arrived (the loss)
    unowned_backward_flops: int = 0
    unowned_macs: int = 0  # forward work no layer owned (counted in the totals, not in any row)
    unowned_flops: int = 0
    unowned_uncounted: dict[str, int] = field(default_factory=dict)  # ops outside any layer with no formula
    summaries: dict[str, Any] = field(default_factory=dict)  # analysis name -> summary value (JSON summary)
    columns: dict[str, str] = field(default_factory=dict)  # per-layer analysis field -> table header
    receptive_field: dict | None = None  # the final field against the input (receptive_field.final_field)
    # (layer, op, args, kwargs, out, cost) of every forward op, when the trace was asked to keep them
    op_records: list | None = field(default=None, repr=False)
    # the torch.fx graph the fx tracer ran (a TracedGraph), when the trace was asked to keep its records
    fx_graph: Any = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def by_name(self) -> dict[str, Layer]:
        return {layer.name: layer for layer in self.layers}

    def consumers(self) -> dict[str, list[str]]:
        """Map each layer name to the layers that read its output."""
        out: dict[str, list[str]] = {layer.name: [] for layer in self.layers}
        for layer in self.layers:
            for src in layer.inputs:
                out.setdefault(src, []).append(layer.name)
        return out
