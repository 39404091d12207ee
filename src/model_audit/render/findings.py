"""The findings block of the terminal report: severity, rule, layer, message, fix, source."""
from __future__ import annotations

import os
import textwrap
from collections import Counter
from typing import Iterable

from ..report.finding import Finding, Severity
from ..escaping import plain

WIDTH = 110
_TORCH_DIR = os.sep + os.path.join("site-packages", "torch") + os.sep


def _counts(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    parts = []
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        n = counts.get(severity, 0)
        if n:
            label = str(severity) + ("s" if n != 1 and severity != Severity.INFO else "")
            parts.append(f"{n} {label}")
    return ", ".join(parts)


def _user_source(source: str | None) -> str | None:
    """The class's file when it is the user's code; torch.nn's own classes say nothing useful."""
    if not source or _TORCH_DIR in source:
        return None
    return source


def render_findings(findings: Iterable[Finding]) -> str:
    """One entry per finding, most severe first as the report orders them; 'findings: none' when empty."""
    findings = list(findings)
    if not findings:
        return "findings: none"
    lines = [f"findings: {_counts(findings)}"]
    indent = " " * 11
    for finding in findings:
        head = f"  {str(finding.severity):<8} {finding.rule}  {plain(finding.layer or '(model)')}"
        lines.append(head)
        lines.extend(textwrap.wrap(plain(finding.message), WIDTH, initial_indent=indent, subsequent_indent=indent))
        if finding.fix:
            lines.extend(textwrap.wrap(finding.fix, WIDTH, initial_indent=indent + "fix: ",
                                       subsequent_indent=indent + "     "))
        source = _user_source(finding.source)
        if source:
            lines.append(f"{indent}source: {source}")
    return "\n".join(lines)
