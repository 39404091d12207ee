"""Build the AuditReport from the annotated graph, once: the only place a report is assembled."""
from __future__ import annotations

from typing import Any

from ..ir.graph import LayerGraph
from .audit_report import AuditReport

OUTSIDE_LAYERS = " (outside any layer)"  # suffix of uncounted ops no layer issued


def uncounted_ops(graph: LayerGraph) -> dict[str, int]:
    """Calls of ops with no formula, per op: every layer's, plus those outside any layer (never dropped)."""
    found: dict[str, int] = {}
    for layer in graph.layers:
        for op, count in layer.uncounted_ops.items():
            found[op] = found.get(op, 0) + count
    for op, count in graph.unowned_uncounted.items():
        key = op + OUTSIDE_LAYERS
        found[key] = found.get(key, 0) + count
    return found


def build_report(graph: LayerGraph, *, name: str, mode: str, notes: list[str] | None = None,
                 findings: list | None = None, probe: Any = None, extra: dict[str, Any] | None = None) -> AuditReport:
    layers = graph.layers
    backward = any(layer.backward_flops is not None for layer in layers)
    params = sum(layer.params for layer in layers)
    model = graph.model
    return AuditReport(
        model=name,
        tracer=graph.tracer,
        device=graph.device,
        mode=mode,
        input_shapes=graph.input_shapes,
        layers=layers,
        params=params,
        trainable_params=sum(layer.trainable_params for layer in layers),
        params_without_bias=params - sum(layer.bias_params for layer in layers),
        params_without_norm=params - sum(layer.norm_params for layer in layers),
        buffers=sum(layer.buffers for layer in layers),
        macs=sum(layer.macs for layer in layers) + graph.unowned_macs,  # work no layer owned is still work
        flops=sum(layer.flops for layer in layers) + graph.unowned_flops,
        uncounted_ops=uncounted_ops(graph),
        backward_macs=sum(layer.backward_macs or 0 for layer in layers) + graph.unowned_backward_macs if backward else None,
        backward_flops=sum(layer.backward_flops or 0 for layer in layers) + graph.unowned_backward_flops if backward else None,
        notes=list(graph.notes) + list(notes or []),
        findings=list(findings or []),
        inputs=list(graph.input_names),
        outputs=list(graph.output_names),
        extra=dict(extra or {}),
        probe=probe,
        analyses=dict(graph.summaries),
        columns=dict(graph.columns),
        module_types={n: type(m).__name__ for n, m in model.named_modules()} if model is not None else {},
    )
