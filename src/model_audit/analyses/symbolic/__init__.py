"""Symbolic costs: params, MACs and FLOPs as exact polynomials in named input dimensions.

``audit(model, input_shape="B,3,H,W", symbolic="B,H=W%32")`` audits at the base sizes, then
fits each layer's counts exactly (see ``fit.py``) and attaches the formulas to the report
(``report.symbolic``, ``summary.symbolic`` and ``layers[].symbolic`` in JSON).
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ...errors import InputSpecError
from ...target.inputs import InputSpec
from .evaluate import Evaluator
from .fit import SymbolicCosts, SymbolicError, fit_costs
from .method import by_sizes
from .spec import Dim, Template, as_templates, bind, parse_dims, parse_template

__all__ = ["SymbolicCosts", "SymbolicError", "Dim", "Template", "parse_dims", "parse_template", "prepare",
           "attach"]


def prepare(symbolic: str | list[Dim], input_shape: Any, inputs: Any = None) -> tuple[list[Dim], list[Template], list[InputSpec]]:
    """Parse the dimensions and input templates; return them with the base point's input specs."""
    if inputs is not None:
        raise InputSpecError("a symbolic audit takes input_shape with dimension names (e.g. 'B,L:int64'), not "
                             "example tensors")
    if input_shape is None:
        raise InputSpecError("a symbolic audit needs --input with dimension names, e.g. --input B,3,H,W")
    dims = parse_dims(symbolic) if isinstance(symbolic, str) else list(symbolic)
    templates = bind(dims, as_templates(input_shape))
    base = {d.name: d.start() for d in dims}
    return dims, templates, [t.at(base) for t in templates]


def attach(graph: Any, model: nn.Module, dims: list[Dim], templates: list[Template], *, mode: str,
           memory: Any = None) -> SymbolicCosts:
    """Fit the formulas around the concrete graph (the base point); they become ``summary.symbolic`` and
    each layer's ``symbolic`` field. ``memory`` (the memory analysis' ``MemoryOptions``, which already ran
    at the base) adds activation and peak bytes, and each layer's saved bytes, to the fit."""
    evaluator = Evaluator(model, graph.tracer, graph.device, mode == "train", fx_graph=graph.fx_graph)
    graph.fx_graph = None
    # Rows the params analysis adds for weights no executed layer reads have no costs to fit.
    base_costs = {layer.name: (layer.macs, layer.flops) for layer in graph.layers if layer.executed}
    params = {layer.name: layer.params for layer in graph.layers}
    kinds = {layer.name: f"{layer.kind} ({layer.type})" for layer in graph.layers}

    def specs_at(values: dict[str, int]) -> list[InputSpec]:
        return [t.at(values) for t in templates]

    recorded, graph.op_records = graph.op_records or [], None  # the base run's tensors need not outlive the fit
    try:
        if memory is None:
            records = [(layer.name if layer is not None else None, *rest) for layer, *rest in recorded]
            with evaluator.session():
                result = by_sizes(dims, evaluator, specs_at, base_costs, params, kinds, records or None)
        else:
            from . import memory as symbolic_memory

            points = symbolic_memory.MemoryPoints(model, memory, mode)
            saved, totals = points.base(graph)
            result = fit_costs(dims, symbolic_memory.with_memory(base_costs, saved), params, kinds,
                               symbolic_memory.counter(evaluator, points, specs_at),
                               layer_metrics=(symbolic_memory.LAYER_METRIC,), base_totals=totals,
                               lenient={symbolic_memory.LAYER_METRIC, *symbolic_memory.TOTALS})
            symbolic_memory.keep_layers(result, saved)
    finally:
        # emptied in place: the concrete run's frames also hold this list, and its fx trace keeps
        # them in a reference cycle (fx's Proxy.__iter__ holds its own frame) until a cyclic GC pass
        recorded.clear()
    graph.summaries["symbolic"] = result
    for layer in graph.layers:
        layer.attrs["symbolic"] = result.layer_dict(layer.name)
    names = ", ".join(f"{k}={v}" for k, v in result.base.items())
    how = ("fitted exactly on {} shapes" if result.method == "fit" else
           "evaluated from the op sizes measured at {} shapes")
    graph.notes.append(f"symbolic costs {how.format(len(result.fit_points))} around {names} and verified on "
                       f"{len(result.verified_at)} more ({result.runs} counting runs); valid for {result.valid_for()}")
    if memory is not None:
        graph.notes.append("symbolic memory: " + symbolic_memory.note(result))
    return result
