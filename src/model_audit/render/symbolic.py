"""The formula block of the table and Markdown: params/MACs/FLOPs as polynomials, leading terms named."""
from __future__ import annotations

from typing import Any


def pretty(expression: str) -> str:
    """'37728*B*L**2 + 5*B' -> '37728·B·L^2 + 5·B' (JSON keeps the sympify-able spelling)."""
    return expression.replace("**", "^").replace("*", "·")


def _header(data: dict[str, Any]) -> str:
    return (f"formula in {', '.join(data['dims'])} (valid for {data['valid_for']}; {data['method']}: exact on "
            f"{data['fit_points']} shapes, verified on {len(data['verified_at'])} more)")


def _leading(data: dict[str, Any]) -> list[str]:
    lines = []
    for term in data["leading"]:
        parts = [f"{pretty(src['coefficient'])} from {src['kind']} x{src['layers']}" for src in term["from"][:3]]
        lines.append(f"leading FLOPs term {pretty(term['term'])}: " + ", ".join(parts))
    return lines


def symbolic_lines(report: Any) -> list[str]:
    """Lines for the terminal summary; empty when no symbolic audit ran."""
    if getattr(report, "symbolic", None) is None:
        return []
    data = report.symbolic.to_dict()
    lines = [_header(data)]
    lines += [f"  {label:<6} = {pretty(data[key])}" for label, key in (("params", "params"), ("MACs", "macs"),
                                                                       ("FLOPs", "flops"))]
    return lines + ["  " + line for line in _leading(data)]


def symbolic_markdown(report: Any) -> list[str]:
    """A Markdown section with the formulas; empty when no symbolic audit ran."""
    if getattr(report, "symbolic", None) is None:
        return []
    data = report.symbolic.to_dict()
    lines = ["", "### Formula", "", _header(data), "", "| | formula |", "|---|---|"]
    lines += [f"| {label} | `{pretty(data[key])}` |" for label, key in (("params", "params"), ("MACs", "macs"),
                                                                           ("FLOPs", "flops"))]
    return lines + [""] + [f"- {line}" for line in _leading(data)]
