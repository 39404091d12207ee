"""``--format markdown``: a pull-request comment or ``$GITHUB_STEP_SUMMARY`` page.

Short on purpose (GitHub caps a comment at 65,536 characters): the totals, the budgets, the
findings, and the layers that cost the most — not every layer.
"""
from __future__ import annotations

from typing import Any

from .table import extras_text
from ..report.audit_report import AuditReport
from ..units import format_count
from ..report.budget import LABELS, uncounted_fraction
from ..report.metrics import METRICS
from ..escaping import md_code, md_text
from .memory import describe
from .rollup import rows

TOP_LAYERS = 15
_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def cell(value: Any) -> str:
    """A table cell: pipes, backticks and markup escaped, newlines shown as escapes (see :mod:`.escape`)."""
    return md_text(value)


def render_markdown(report: AuditReport, depth: int | None = None, top: int = TOP_LAYERS, **_: Any) -> str:
    shapes = ", ".join("[" + ", ".join(map(str, s)) + "]" for s in report.input_shapes)
    out = [f"## model-audit: {md_code(report.model, in_table=False)}", ""]
    out += ["| | params | MACs | FLOPs |", "|---|---:|---:|---:|",
            f"| total | {format_count(report.params)} | {format_count(report.macs)} | {format_count(report.flops)} |",
            f"| exact | {report.params:,} | {report.macs:,} | {report.flops:,} |"]
    out += ["", f"input {shapes} · tracer `{report.tracer}` · device `{report.device}` · mode `{report.mode}` · "
                f"trainable {report.trainable_params:,} · without bias {report.params_without_bias:,} · "
                f"without norm {report.params_without_norm:,} · buffers {report.buffers:,}"]
    if report.uncounted_ops:
        ops = ", ".join(f"{md_code(op, in_table=False)} ×{n}" for op, n in sorted(report.uncounted_ops.items()))
        out += ["", f"Uncounted ops (no formula, not in the totals): {ops}"]
    from .symbolic import symbolic_markdown

    out += symbolic_markdown(report)
    out += _budget_section(report)
    out += _findings_section(report)
    out += _memory_section(report)
    out += _layers_section(report, depth, top)
    extras = extras_text(report, memory=False).strip()
    if extras:
        out += ["", "```", extras, "```"]
    return "\n".join(out) + "\n"


def _budget_section(report: AuditReport) -> list[str]:
    section = report.extra.get("budget")
    if not section or not section.get("limits"):
        return []
    breached = {b["metric"]: b for b in section.get("breaches", [])}
    lines = ["", "### Budgets " + ("✅" if section.get("ok") else "❌"), "",
             "| | measured | budget | |", "|---|---:|---:|---|"]
    for metric, limit in section["limits"].items():
        measured = _measured(report, metric)
        status = "❌ " + cell(breached[metric]["message"]) if metric in breached else "✅"
        lines.append(f"| {LABELS.get(metric, metric)} | {measured} | {_limit(metric, limit)} | {status} |")
    return lines


def _measured(report: AuditReport, metric: str) -> str:
    if metric in METRICS:
        return METRICS[metric].format(METRICS[metric].of_report(report))
    if metric == "uncounted_fraction":
        return f"{uncounted_fraction(report):.3f}"
    return str(len(report.findings))


def _limit(metric: str, limit: Any) -> str:
    if metric in METRICS:
        return METRICS[metric].format(limit)
    if metric == "findings" and isinstance(limit, str):
        return f"none ≥ {limit}"
    return str(limit)


def _memory_section(report: AuditReport) -> list[str]:
    """The memory analysis' lines (render/memory.py's ``describe``: one place words them), escaped."""
    if report.memory is None:
        return []
    lines = describe(report.memory)
    return ["", "### Memory", "", cell(lines[0]), ""] + [f"- {cell(line.strip())}" for line in lines[1:]]


def _findings_section(report: AuditReport) -> list[str]:
    findings = list(report.findings)
    if not findings:
        return ["", "### Findings", "", "No findings."]
    lines = ["", f"### Findings ({len(findings)})", "", "| | rule | layer | finding | fix |", "|---|---|---|---|---|"]
    for f in findings:
        severity = str(f.severity)
        lines.append(f"| {_ICON.get(severity, '')} {severity} | `{f.rule}` | {md_code(f.layer) if f.layer else ''} | "
                     f"{cell(f.message)} | {cell(f.fix)} |")
    return lines


def _layers_section(report: AuditReport, depth: int | None, top: int) -> list[str]:
    table = [row for row in rows(report, depth) if row.macs or row.params]
    if not table:
        return []
    ranked = sorted(table, key=lambda row: (-row.macs, -row.params))[:top]
    where = f" at depth {depth}" if depth else ""
    lines = ["", f"### Top {len(ranked)} of {len(table)} layers by MACs{where}", "",
             "| layer | type | params | MACs | FLOPs | % MACs |", "|---|---|---:|---:|---:|---:|"]
    for row in ranked:
        share = f"{100.0 * row.macs / report.macs:.1f}%" if report.macs else "-"
        lines.append(f"| {md_code(row.name)} | {cell(row.type)} | {format_count(row.params) if row.params else ''} | "
                     f"{format_count(row.macs) if row.macs else ''} | {format_count(row.flops) if row.flops else ''} | {share} |")
    return lines
