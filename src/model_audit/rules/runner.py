"""Run the selected rules over a LayerGraph; a rule that crashes is reported, never swallowed."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from ..ir.graph import LayerGraph
from ..errors import AuditError
from ..report.finding import Finding
from .base import RuleContext
from .confirm import confirm_with_probe
from .registry import Registry, default_registry
from .settings import RuleSettings


def known_ids(registry: Registry) -> dict[str, Any]:
    """Every id a setting may name: the registry's rules (static and measured by probes)."""
    return dict(registry.rules)


def run_rules(graph: LayerGraph, settings: RuleSettings | None = None, *, registry: Registry | None = None,
              model: nn.Module | None = None, source_path: Path | None = None, train_script: Path | None = None,
              train_step: Callable | None = None, mode: str = "eval",
              probe: Any = None, trace_free_only: bool = False) -> tuple[list[Finding], list[str]]:
    """Return (findings of the selected rules, notes about rules that failed).

    ``probe`` (a ProbeReport, with ``--probe``) is what the measured rules judge and what confirms or
    re-grades static findings (``rules/confirm.py``). Suppressions and severity overrides are applied
    by the caller (``api.audit``), once.
    """
    settings = settings or RuleSettings()
    registry = registry or default_registry()
    settings.validate(known_ids(registry))
    findings: list[Finding] = []
    notes: list[str] = []
    resolved = {rule.id: resolved_options(rule, settings) for rule in registry}
    for rule in registry:
        if not settings.selects(rule.id) or (rule.measured and probe is None) or (trace_free_only and rule.needs_trace):
            continue
        ctx = RuleContext(rule=rule, options=resolved[rule.id], model=model if model is not None else graph.model,
                          source_path=source_path, train_script=train_script, train_step=train_step,
                          input_shapes=list(graph.input_shapes), mode=mode, probe=probe, graph=graph)
        try:
            findings.extend(rule.check(graph, ctx))
        except AuditError:  # bad user input a rule reads (an unparsable --train-script): exit 2
            raise
        except Exception as error:  # a buggy (third-party) rule must not take the audit down
            notes.append(f"rule {rule.id} ({rule.plugin}) failed and was skipped: {type(error).__name__}: {error}")
    if probe is not None:
        findings = confirm_with_probe(findings, probe, resolved)
    return findings, notes


def resolved_options(rule: Any, settings: RuleSettings) -> dict[str, Any]:
    """A rule's options: its defaults, then the user's ``options.<id>`` (kebab-case keys accepted)."""
    options = dict(rule.options)
    options.update({key.replace("-", "_"): value for key, value in settings.options.get(rule.id, {}).items()})
    return options
