"""One finding per rule and pattern: repeated blocks collapse into one finding with its occurrences.

Two findings share a pattern when they come from the same rule at the same severity, on layers of the
same type whose names differ only in their numeric parts (``denseblock1.denselayer3.conv1`` and
``denseblock2.denselayer7.conv1``; ``features.0`` and ``features.4``), with messages equal once layer
names and numbers are masked. The first (worst-sorted) finding stays and carries every occurrence in
``data["occurrences"]`` (layer, source line, message, fix, data), so JSON keeps them all; its message ends with the
count and the first few layers, so the table, Markdown, HTML, SARIF and GitHub outputs say it too.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..report.finding import Finding

_NAMES = re.compile(r"`[^`]*`|'[^']*'")
_NUMBERS = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?")
_CALL_SUFFIX = re.compile(r"(_\d+|@\d+)$")  # fx's dropout_1, the hooks tracer's cell@3: the same op again
_SHOWN = 3


def pattern(finding: Finding) -> tuple:
    """The key findings are grouped by."""
    layer = _NUMBERS.sub("#", _CALL_SUFFIX.sub("", finding.layer or ""))
    message = _NUMBERS.sub("#", _NAMES.sub("`…`", finding.message))
    return finding.rule, finding.severity, layer, message


def group_findings(findings: list[Finding]) -> list[Finding]:
    """Collapse findings of one pattern into the first; a pattern seen once is left as it is."""
    groups: dict[tuple, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(pattern(finding), []).append(finding)
    out = []
    for members in groups.values():
        first = members[0]
        if len(members) == 1:
            out.append(first)
            continue
        occurrences = [{"layer": f.layer, "source": f.source, "message": f.message, "fix": f.fix, "data": dict(f.data)}
                       for f in members]
        shown = ", ".join(f"`{f.layer}`" for f in members[:_SHOWN])
        more = f" and {len(members) - _SHOWN} more" if len(members) > _SHOWN else ""
        out.append(replace(first, message=f"{first.message} [{len(members)} occurrences of this pattern: {shown}{more}]",
                           data={**first.data, "occurrences": occurrences}))
    return out
