"""The formula block of the table and Markdown: params/MACs/FLOPs (and, with --memory, activation and peak
bytes) as polynomials, leading terms named."""
from __future__ import annotations

from typing import Any


def pretty(expression: str) -> str:
    """'37728*B*L**2 + 5*B' -> '37728·B·L^2 + 5·B' (JSON keeps the sympify-able spelling)."""
    return expression.replace("**", "^").replace("*", "·")


def _header(data: dict[str, Any]) -> str:
    how = "sizes method: op sizes at" if data["method"] == "sizes" else f"{data['method']}: exact on"
    return (f"formula in {', '.join(data['dims'])} (valid for {data['valid_for']}; {how} "
            f"{data['fit_points']} shapes, verified on {len(data['verified_at'])} more)")


def _leading(data: dict[str, Any]) -> list[str]:
    lines = []
    for term in data["leading"]:
        parts = [f"{pretty(src['coefficient'])} from {src['kind']} x{src['layers']}" for src in term["from"][:3]]
        lines.append(f"leading FLOPs term {pretty(term['term'])}: " + ", ".join(parts))
    return lines


MEMORY = (("activations", "activations_bytes"), ("peak", "peak_bytes"))  # with --memory: bytes of the step


def _memory(data: dict[str, Any], tick: str = "") -> list[tuple[str, str]]:
    """(label, text) for each memory formula present: the formula in bytes, or why there is none."""
    out = []
    for label, key in MEMORY:
        if key not in data:
            continue
        if data[key] is not None:
            out.append((label, f"{tick}{pretty(data[key])}{tick} bytes"))
        else:
            why = data.get("not_polynomial", {}).get(key, "")
            out.append((label, f"not one polynomial on the fitted range ({why}); the measured figure is in the "
                               "memory section"))
    return out


def symbolic_lines(report: Any) -> list[str]:
    """Lines for the terminal summary; empty when no symbolic audit ran."""
    if getattr(report, "symbolic", None) is None:
        return []
    data = report.symbolic.to_dict()
    lines = [_header(data)]
    lines += [f"  {label:<6} = {pretty(data[key])}" for label, key in (("params", "params"), ("MACs", "macs"),
                                                                       ("FLOPs", "flops"))]
    lines += [f"  {label:<11} = {text}" for label, text in _memory(data)]
    return lines + ["  " + line for line in _leading(data)]


def symbolic_markdown(report: Any) -> list[str]:
    """A Markdown section with the formulas; empty when no symbolic audit ran."""
    if getattr(report, "symbolic", None) is None:
        return []
    data = report.symbolic.to_dict()
    lines = ["", "### Formula", "", _header(data), "", "| | formula |", "|---|---|"]
    lines += [f"| {label} | `{pretty(data[key])}` |" for label, key in (("params", "params"), ("MACs", "macs"),
                                                                           ("FLOPs", "flops"))]
    lines += [f"| {label} | {text} |" for label, text in _memory(data, "`")]
    return lines + [""] + [f"- {line}" for line in _leading(data)]
