"""Cells every per-layer table shares (terminal, HTML): params with shared tensors, findings by layer."""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from .rollup import Row


def shared_names(row: Row) -> list[str]:
    """Tensors the row's layers reuse from elsewhere (tied weights), not those its own layers own."""
    own = {layer.name.split("@")[0] for layer in row.layers if layer.module is not None or layer.kind == "parameter"}
    names: list[str] = []
    for layer in row.layers:
        for name in layer.attrs.get("shares", []):
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            if name not in names and owner not in own and name not in own:
                names.append(name)
    return names


def params_cell(row: Row, count: Callable[[int], str]) -> str:
    """'1.2M', 'shares transformer.wte.weight' (a tied head owns nothing), or '1.2M + shares x'."""
    own = count(row.params) if row.params else ""
    shared = shared_names(row)
    if not shared:
        return own
    text = "shares " + ", ".join(shared)
    return f"{own} + {text}" if own else text


def findings_by_layer(findings: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for finding in findings:
        if getattr(finding, "layer", None):
            out.setdefault(finding.layer, []).append(finding)
    return out


def findings_cell(row: Row, by_layer: dict[str, list[Any]]) -> str:
    """'even-kernel, dropout-before-norm ×2': the rules that flagged the row's layers."""
    counts = Counter(f.rule for layer in row.layers for f in by_layer.get(layer.name, []))
    return ", ".join(rule if n == 1 else f"{rule} ×{n}" for rule, n in counts.items())
