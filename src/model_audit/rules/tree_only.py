"""Rules that need no trace, run when tracing fails: the module tree and the scripts are enough.

A model whose example inputs are missing or rejected cannot be traced, but ``unclipped-rnn`` needs
only to know there is an ``nn.LSTM`` in the tree and whether the training script clips. This module
builds a shape-less graph of the model's leaf modules and runs the rules marked
``needs_trace=False`` on it; the others are named as not run, with the reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from ..ir.graph import LayerGraph
from ..report.finding import Finding
from .registry import Registry, default_registry
from .settings import RuleSettings


def module_tree_graph(model: nn.Module) -> LayerGraph:
    """One layer per leaf module (no shapes, no edges, no calls): what the module tree alone says."""
    from ..trace.tracing import is_leaf_module, module_layer

    layers = [module_layer(name, module) for name, module in model.named_modules()
              if name and (is_leaf_module(module) or not any(True for _ in module.children()))]
    return LayerGraph(layers=layers, model=model, tracer="modules", device="none")


def run_without_trace(model: nn.Module, reason: str, settings: RuleSettings | None = None, *,
                      registry: Registry | None = None, source_path: Path | None = None,
                      train_script: Path | None = None, train_step: Callable | None = None,
                      mode: str = "eval") -> tuple[list[Finding], list[str]]:
    """(findings of the trace-free rules, notes naming the rules that could not run and why)."""
    from .runner import run_rules

    registry = registry or default_registry()
    settings = settings or RuleSettings()
    graph = module_tree_graph(model)
    findings, notes = run_rules(graph, settings, registry=registry, model=model, source_path=source_path,
                                train_script=train_script, train_step=train_step, mode=mode, trace_free_only=True)
    skipped = [rule.id for rule in registry if rule.needs_trace and not rule.measured and settings.selects(rule.id)]
    if skipped:
        notes.append(f"rules that need a trace could not run ({reason}): {', '.join(skipped)}")
    return findings, notes


def attach(error: Any, findings: list[Finding], notes: list[str]) -> None:
    """Put the trace-free results on the tracing error (``error.findings``, ``error.notes``) and say so in
    its one-line message, so the CLI's exit-2 line still tells what the module tree revealed."""
    error.findings, error.notes = findings, notes
    if findings:
        worst = ", ".join(f"{f.severity} {f.rule} at '{f.layer}'" for f in findings[:3])
        error.args = (f"{error.args[0] if error.args else error}; rules run on the module tree alone found: {worst}"
                      f"{' and more' if len(findings) > 3 else ''}",)
