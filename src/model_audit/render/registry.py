"""One entry point from a format name to its renderer (the CLI, ``check`` and the pytest plugin share it)."""
from __future__ import annotations

from typing import Any, Mapping

from ..report.audit_report import AuditReport

FORMATS = ("table", "json", "markdown", "html", "sarif", "github", "dot", "svg", "mermaid")


def render(report: AuditReport, fmt: str, *, depth: int | None = None,
           rules: Mapping[str, Mapping[str, Any]] | None = None, all_rows: bool = False) -> str:
    """Render ``report`` as ``fmt``; ``rules`` (id -> metadata) feeds SARIF's rule descriptors.

    ``all_rows`` keeps zero-cost view/reshape rows the table and HTML otherwise fold into their reader.
    """
    if fmt in ("dot", "svg", "mermaid"):  # the collapsed layer graph (graph.py builds it once)
        from .graph import GRAPH_RENDERERS

        return GRAPH_RENDERERS[fmt](report)
    if fmt == "table":
        from .table import render_table

        return render_table(report, depth=depth, all_rows=all_rows)
    if fmt == "json":
        from .json_report import render_json

        return render_json(report)
    if fmt == "markdown":
        from .markdown import render_markdown

        return render_markdown(report, depth=depth)
    if fmt == "html":
        from .html import render_html

        return render_html(report, depth=depth, all_rows=all_rows)
    if fmt == "sarif":
        from .sarif import render_sarif

        return render_sarif(report, rules)
    if fmt == "github":
        from .github import render_github

        return render_github(report)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
