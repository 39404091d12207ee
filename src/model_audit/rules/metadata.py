"""Rule documentation as plain data, for renderers that describe rules (SARIF's ``tool.driver.rules``).

Renderers see only the report; whoever calls them (the CLI) looks the rules up here and hands the
result over, so ``reports/`` never imports the rule registry.
"""
from __future__ import annotations

from typing import Any, Iterable


def rule_metadata(rule_ids: Iterable[str], registry: Any = None) -> dict[str, dict[str, Any]]:
    """id -> {summary, severity, what, why, example, fix, options, plugin} for the ids that are registered."""
    if registry is None:
        from .registry import default_registry

        registry = default_registry()
    known = registry.rules
    out: dict[str, dict[str, Any]] = {}
    for rule_id in dict.fromkeys(rule_ids):
        rule = known.get(rule_id)
        if rule is None:
            continue
        out[rule_id] = {"summary": rule.summary, "severity": str(rule.severity), "what": rule.doc.what,
                        "why": rule.doc.why, "example": rule.doc.example, "fix": rule.doc.fix,
                        "options": dict(rule.options), "plugin": rule.plugin}
    return out
