"""``model-audit diff`` on symbolic reports: the formulas before and after, and their difference.

The difference is exact (sympy, on the JSON strings), so a change shows as the terms it added or
removed — e.g. ``+ 512*B*L**2`` when a layer's attention grew — not just as one size's delta.
"""
from __future__ import annotations

from typing import Any

METRICS = (("params", "params"), ("macs", "MACs"), ("flops", "FLOPs"))


def formula_diff(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any] | None:
    """Per metric: base, head and head - base as strings; None when neither report has formulas."""
    old = (base.get("summary") or {}).get("symbolic")
    new = (head.get("summary") or {}).get("symbolic")
    if old is None and new is None:
        return None
    if old is None or new is None:
        return {"note": f"only the {'head' if old is None else 'base'} report has formulas (--symbolic)"}
    import sympy

    out: dict[str, Any] = {"dims": {"base": old["dims"], "head": new["dims"]}}
    for key, _ in METRICS:
        delta = sympy.expand(sympy.sympify(new[key]) - sympy.sympify(old[key]))
        out[key] = {"base": old[key], "head": new[key], "delta": str(delta)}
    changed = []
    old_layers = {l["name"]: l.get("symbolic") for l in base.get("layers", []) if l.get("symbolic")}
    for layer in head.get("layers", []):
        formula = layer.get("symbolic")
        if formula and layer["name"] in old_layers and _costs(old_layers[layer["name"]]) != _costs(formula):
            changed.append({"name": layer["name"],
                            "flops": str(sympy.expand(sympy.sympify(formula["flops"])
                                                      - sympy.sympify(old_layers[layer["name"]]["flops"])))})
    out["layers_changed"] = changed
    return out


def _costs(formula: dict[str, Any]) -> tuple:
    """The cost formulas of a layer (its memory formulas, with --memory, are not compared here)."""
    return tuple(formula.get(key) for key, _ in METRICS)


def formula_lines(diff: dict[str, Any], markdown: bool = False) -> list[str]:
    """Human lines: one per metric, 'base -> head (delta)'."""
    if "note" in diff:
        return [f"formulas: {diff['note']}"]
    tick = "`" if markdown else ""
    lines = ["formulas (head - base):"]
    for key, label in METRICS:
        entry = diff[key]
        change = "unchanged" if entry["delta"] == "0" else f"{tick}{entry['delta']}{tick}"
        lines.append(f"{'- ' if markdown else '  '}{label}: {tick}{entry['base']}{tick} -> {tick}{entry['head']}{tick}"
                     f" ({change})")
    for layer in diff["layers_changed"][:10]:
        lines.append(f"{'- ' if markdown else '  '}{layer['name']} FLOPs {tick}{layer['flops']}{tick}")
    return lines
