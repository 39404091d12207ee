"""``--format github``: GitHub Actions workflow commands, one annotation per finding and breach.

``::warning file=models/net.py,line=12,title=model-audit high-dropout::message`` shows on the
pull request's diff at the module's class. Severity maps to the command: error -> ``error``,
warning -> ``warning``, info -> ``notice``. Values are escaped as the runner expects.
"""
from __future__ import annotations

from typing import Any

from pathlib import Path

from ..report.audit_report import AuditReport
from .locations import project_file, split_source

_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, title: str, file: str | None = None, line: int | None = None) -> str:
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line:
            props.append(f"line={line}")
    props.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(props)}::{escape_data(message)}"


def render_github(report: AuditReport, root: str | Path | None = None, **_: Any) -> str:
    lines = []
    model_path, model_line = split_source(report.extra.get("model_source"))  # the model's class (issue 12)
    for breach in (report.extra.get("budget") or {}).get("breaches", []):
        lines.append(annotation("error", f"{report.model}: {breach['message']}", title="model-audit budget",
                                file=project_file(model_path, root), line=model_line))
    for finding in report.findings:
        path, line = split_source(finding.source)
        where = f"{finding.layer}: " if finding.layer else ""
        fix = f" Fix: {finding.fix}" if finding.fix else ""
        lines.append(annotation(_COMMAND.get(str(finding.severity), "warning"), f"{where}{finding.message}{fix}",
                                title=f"model-audit {finding.rule}", file=project_file(path, root),
                                line=line))
    summary = (f"model-audit {report.model}: params {report.params:,}, MACs {report.macs:,}, FLOPs {report.flops:,}, "
               f"{len(report.findings)} finding(s)")
    lines.append(annotation("notice", summary, title="model-audit"))
    return "\n".join(lines)
