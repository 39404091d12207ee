"""RENDERERS: format name -> renderer. The CLI, ``check`` and the pytest plugin all render through it.

A renderer is ``fn(report, *, depth=None, rules=None, all_rows=False, **_) -> str``; adding a format is one entry here
plus its module. ``rules`` (rule id -> metadata) feeds SARIF's rule descriptors.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from ..report.audit_report import AuditReport

Renderer = Callable[..., str]

# name -> "module:function", imported on first use (a table does not pay for the HTML renderer).
RENDERERS: dict[str, str] = {
    "table": "model_audit.render.table:render_table",
    "json": "model_audit.render.json_report:render_json",
    "markdown": "model_audit.render.markdown:render_markdown",
    "html": "model_audit.render.html:render_html",
    "sarif": "model_audit.render.sarif:render_sarif",
    "github": "model_audit.render.github:render_github",
    "dot": "model_audit.render.graph:render_dot",
    "svg": "model_audit.render.graph:render_svg",
    "mermaid": "model_audit.render.graph:render_mermaid",
}
FORMATS = tuple(RENDERERS)


def renderer(fmt: str) -> Renderer:
    try:
        target = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(RENDERERS)}") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def render(report: AuditReport, fmt: str, *, depth: int | None = None,
           rules: Mapping[str, Mapping[str, Any]] | None = None, all_rows: bool = False) -> str:
    """Render ``report`` as ``fmt``; ``rules`` (id -> metadata, from ``rules.metadata``) feeds SARIF;
    ``all_rows`` keeps zero-cost view/reshape rows the table and HTML otherwise fold into their reader."""
    return renderer(fmt)(report, depth=depth, rules=rules, all_rows=all_rows)
