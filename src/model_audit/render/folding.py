"""Fold zero-cost view/reshape rows into the layer that reads them (``--all-rows`` shows them all).

A 2-block GPT traced by fx has about 30 ``view``/``transpose``/``getitem`` rows that cost nothing
and own nothing; they bury the rows a reviewer reads. A folded layer is one that is a functional
reshape (kind ``reshape``, no module), with no params, MACs, FLOPs or uncounted ops, that ran,
that no finding names, and that some layer reads. It joins the row of its first reader (following
chains of folded layers), before that reader, so rolled-up figures are unchanged. The JSON keeps
every layer: folding is presentation only.
"""
from __future__ import annotations

from ..ir.graph import Layer
from ..report.audit_report import AuditReport


def foldable(layer: Layer) -> bool:
    """A functional view/reshape row that costs and owns nothing."""
    return (layer.module is None and layer.kind == "reshape" and layer.executed and not layer.params
            and not layer.shared_params and not layer.macs and not layer.flops and not layer.uncounted_ops)


def fold_targets(report: AuditReport) -> dict[str, str]:
    """Folded layer name -> name of the visible layer whose row it joins."""
    flagged = {f.layer for f in report.findings if getattr(f, "layer", None)}
    order = {layer.name: i for i, layer in enumerate(report.layers)}
    readers: dict[str, list[str]] = {}
    for layer in report.layers:
        for src in layer.inputs:
            readers.setdefault(src, []).append(layer.name)
    target: dict[str, str] = {}
    for layer in reversed(report.layers):  # readers come later: their targets are known
        if not foldable(layer) or layer.name in flagged:
            continue
        after = sorted((r for r in readers.get(layer.name, []) if order.get(r, -1) > order[layer.name]),
                       key=order.__getitem__)
        if after:
            target[layer.name] = target.get(after[0], after[0])
    return target


def folded_note(report: AuditReport) -> str | None:
    """The summary line that says rows were folded (never a silent omission)."""
    count = len(fold_targets(report))
    if not count:
        return None
    return (f"{count} zero-cost view/reshape row{'s' if count != 1 else ''} folded into the layer that reads "
            "them (--all-rows shows every row)")
