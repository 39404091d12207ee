"""Roll per-layer rows up to module depth N (``--depth``): figures add, exactly."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.graph import Layer
from ..report.audit_report import AuditReport


@dataclass
class Row:
    name: str
    type: str
    output_shape: object
    params: int = 0
    macs: int = 0
    flops: int = 0
    layers: list[Layer] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def rows(report: AuditReport, depth: int | None = None) -> list[Row]:
    if depth is None or depth <= 0:
        return [Row(l.name, l.type, l.output_shape, l.params, l.macs, l.flops, [l]) for l in report.layers]
    grouped: dict[str, Row] = {}
    for layer in report.layers:
        path = layer.module_path
        key = ".".join(path[:depth]) if len(path) > depth else layer.name
        row = grouped.get(key)
        if row is None:
            row = grouped[key] = Row(key, layer.type if key == layer.name else _type_of(report, key, layer), None)
        row.params += layer.params
        row.macs += layer.macs
        row.flops += layer.flops
        row.layers.append(layer)
        if layer.output_shapes:
            row.output_shape = layer.output_shape
    return list(grouped.values())


def _type_of(report: AuditReport, key: str, layer: Layer) -> str:
    if key in report.module_types:
        return report.module_types[key]
    return layer.type if layer.module is not None and layer.name.split("@")[0] == key else "(group)"
