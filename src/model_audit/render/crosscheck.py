"""Render an fvcore cross-check: two table columns per module and a block that explains the differences."""
from __future__ import annotations

from typing import Any, Callable

from ..ir import ops
from ..units import format_count
from .rollup import Row


def _short(op: str) -> str:
    name = op.split("::", 1)[-1]
    return ops.SHORT_NAMES.get(name, name)


def _signed(value: int) -> str:
    return ("+" if value > 0 else "-") + format_count(abs(value))


def mark(module: Any) -> str:
    """'=' when model-audit and fvcore agree, else the signed difference and why (op names, or '?')."""
    if module.status == "match":
        return "="
    if module.counted_at is not None:
        return f"(in {module.counted_at or 'model'})"
    why = ",".join(_short(op) for op in sorted(module.skipped)) if module.skipped else ""
    if module.status == "unexplained":
        why = (why + "," if why else "") + "?"
    return f"{_signed(module.diff)} ({why})"


def _module_of(row: Row, check: Any) -> Any:
    if "@" in row.name:  # a repeated call: the module's figures (all calls) are on its first row
        return None
    return check.module(row.name)


def crosscheck_columns(check: Any) -> dict[str, Callable[[Row], str]]:
    """Column name -> callable(row) for ``render_table``: fvcore's MACs for the row's module and the mark."""

    def fvcore_macs(row: Row) -> str:
        module = _module_of(row, check)
        if module is None:
            return ""  # a functional op: fvcore attributes it to the enclosing module
        return format_count(module.fvcore) if module.fvcore else ("0" if module.ours else "")

    def versus(row: Row) -> str:
        module = _module_of(row, check)
        if module is None or (not module.ours and not module.fvcore and not module.skipped):
            return ""
        return mark(module)

    return {"fvcore MACs": fvcore_macs, "vs fvcore": versus}


def render_crosscheck(check: Any) -> str:
    """The summary block: totals, ratio, what fvcore counts that is not MACs, what it skips, and why."""
    lines = ["cross-check: fvcore (FlopCountAnalysis on a CPU copy of the model, mode: %s)" % check.mode]
    ratio = f"{check.ratio:.4f}" if check.ratio is not None else "-"
    lines.append(f"  model-audit MACs:   {check.ours:,} ({format_count(check.ours)})")
    lines.append(f"  fvcore total:       {check.fvcore_total:,} ({format_count(check.fvcore_total)})   "
                 f"model-audit / fvcore = {ratio}")
    lines.append(f"    matmul-like ops:  {check.fvcore_macs:,} ({format_count(check.fvcore_macs)})   "
                 f"<- comparable to model-audit's MACs")
    if check.fvcore_other:
        other = ", ".join(f"{op} {format_count(v)}" for op, v in sorted(check.by_operator.items())
                          if v and op not in _mac_ops())
        lines.append(f"    non-MAC ops:      {check.fvcore_other:,} ({format_count(check.fvcore_other)})   "
                     f"({other}): fvcore adds these to its total; model-audit counts them in FLOPs, not MACs")
    lines.append(f"  difference (model-audit - fvcore matmul-like): {check.diff:+,}")
    skipped = check.skipped
    if skipped:
        lines.append(f"  fvcore skips (no handle, counted as 0; model-audit counts them): "
                     f"{check.skipped_macs:,} MACs sized")
        for op, calls in sorted(skipped.items()):
            lines.append(f"    {op} x{calls}: {ops.MATMUL_LIKE_DESCRIPTIONS.get(op.split('::')[-1], 'matmul-like op')}")
    if check.residual:
        lines.append(f"  unexplained residual: {check.residual:+,} MACs"
                     + ("" if check.status == "explained" else "  <- see modules marked '?'"))
    other_ops = {op: n for op, n in check.unsupported_ops.items() if op not in skipped}
    if other_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(other_ops.items()))
        lines.append(f"  also skipped by fvcore, no MACs (model-audit counts them in FLOPs): {listed}")
    inside = [m for m in check.modules if m.status != "match" and m.counted_at is not None]
    differing = [m for m in check.modules if m.status != "match" and m.counted_at is None]
    leaves = [m for m in differing
              if not any(o is not m and (m.name == "" or o.name.startswith(m.name + ".")) for o in differing)]
    if differing:
        lines.append(f"  modules that differ: {len(differing)} ({len(leaves)} innermost); innermost:")
        groups: dict[tuple, list] = {}  # identical blocks (12 encoder layers) print once
        for module in leaves:
            key = (module.type, module.ours, module.fvcore, module.status, tuple(r.split(" x")[0] for r in module.reasons))
            groups.setdefault(key, []).append(module)
        for members in list(groups.values())[:20]:
            module = members[0]
            alike = f" (and {len(members) - 1} more alike: {members[-1].name})" if len(members) > 1 else ""
            lines.append(f"    {module.name or '(model)'}{alike} [{module.type}]: model-audit {format_count(module.ours)}, "
                         f"fvcore {format_count(module.fvcore)}, {module.status}: " + "; ".join(module.reasons))
        if len(groups) > 20:
            lines.append(f"    ... and {len(groups) - 20} more (see --format json, cross_check.modules)")
    elif not inside:
        lines.append("  every module agrees")
    if inside:
        where = sorted({m.counted_at or "(model)" for m in inside})
        lines.append(f"  {len(inside)} submodules of {', '.join(where[:5])}{' ...' if len(where) > 5 else ''} are not "
                     "compared on their own: model-audit counts each of those as one layer (a leaf module or a "
                     "fused eval fast path) while fvcore reports its children; the parent rows are compared above")
    verdict = {"match": "MACs agree exactly", "explained": "every difference is explained (ops fvcore skips, or work model-audit counts at the parent)",
               "unexplained": "some differences are not explained by ops fvcore skips"}[check.status]
    lines.append(f"  verdict: {verdict}")
    for note in check.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def _mac_ops() -> frozenset:
    return ops.FVCORE_MAC_KEYS
