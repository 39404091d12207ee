"""Analyses: each annotates the traced LayerGraph; a registry runs them in order.

Costs are counted while tracing (``trace/counting.py`` applies the per-op formulas of
``costs.py``); the analyses here run on the finished graph. A new analysis is one
:class:`Analysis` — built in (add it to ``BUILTIN``) or from a plugin (``model_audit_analyses``
hook, or :func:`register_analysis`): its per-layer fields reach the JSON report and, through
``columns``, the table, with no other file touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..ir.graph import LayerGraph
from .params import annotate_params
from .receptive_field import annotate_receptive_fields


@dataclass(frozen=True)
class Analysis:
    """``annotate(graph)`` writes per-layer figures (``layer.attrs[field]`` for new fields) and returns a
    summary value (or None); ``columns`` maps per-layer fields to table headers."""

    name: str
    annotate: Callable[[LayerGraph], Any]
    columns: dict[str, str] = field(default_factory=dict)


def _params(graph: LayerGraph) -> None:
    annotate_params(graph)


def _receptive_field(graph: LayerGraph) -> dict | None:
    annotate_receptive_fields(graph)
    return graph.receptive_field  # the final field against the input (JSON summary.receptive_field)


BUILTIN: list[Analysis] = [Analysis("params", _params), Analysis("receptive_field", _receptive_field)]
_REGISTERED: list[Analysis] = []


def register_analysis(analysis: Analysis) -> None:
    """Add an analysis for this process (plugins use the ``model_audit_analyses`` hook instead)."""
    if any(a.name == analysis.name for a in (*BUILTIN, *_REGISTERED)):
        raise ValueError(f"an analysis named {analysis.name!r} is already registered")
    _REGISTERED.append(analysis)


def all_analyses() -> list[Analysis]:
    """Built-in analyses first, then registered and plugin ones (names unique)."""
    from ..plugins import plugin_analyses

    found = [*BUILTIN, *_REGISTERED]
    names = {a.name for a in found}
    for analysis in plugin_analyses():
        if not isinstance(analysis, Analysis):
            raise TypeError(f"model_audit_analyses returned {analysis!r}, not a model_audit.Analysis")
        if analysis.name in names:
            raise ValueError(f"two analyses are named {analysis.name!r}")
        names.add(analysis.name)
        found.append(analysis)
    return found


def run_analyses(graph: LayerGraph) -> None:
    """Run every analysis in order: summaries go to ``graph.summaries``, columns to ``graph.columns``.

    A built-in analysis that raises is a bug (it propagates); a plugin's is skipped with a note.
    """
    for analysis in all_analyses():
        try:
            summary = analysis.annotate(graph)
        except Exception as error:  # a third-party analysis must not take the audit down
            if analysis in BUILTIN:
                raise
            graph.notes.append(f"analysis {analysis.name} failed and was skipped: {type(error).__name__}: {error}")
            continue
        if summary is not None:
            graph.summaries[analysis.name] = summary
        graph.columns.update(analysis.columns)
