"""The public ``audit()``: analyses, then rules, then probes — composed here so layers stay apart.

The auditor (tracing, counting, receptive field, probes) knows nothing of rules; rules read the
IR only; this module is the one place that runs them in order and applies the user's rule
settings (select/ignore/severity/suppressions) to every finding, static or measured.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import torch.nn as nn

from .trace import engine
from .config import ProjectConfig
from .report.finding import Finding
from .report.audit_report import AuditReport
from .rules.settings import RuleSettings


def audit(model: nn.Module, inputs: Any = None, *, input_shape: Any = None, device: str | None = None,
          tracer: str = "auto", backward: bool = False, mode: str = "eval", name: str | None = None,
          rules: bool = True, select: Iterable[str] | None = None, ignore: Iterable[str] | None = None,
          severity: dict[str, str] | None = None, options: dict[str, dict[str, Any]] | None = None,
          config: ProjectConfig | None = None, settings: RuleSettings | None = None,
          source_path: str | Path | None = None, train_script: str | Path | None = None,
          train_step: Callable | None = None, registry: Any = None,
          probe: bool = False, loss_fn: Callable | None = None, targets: Any = None, seed: int = 0,
          probe_options: dict[str, Any] | None = None, symbolic: str | None = None) -> AuditReport:
    """Audit ``model`` on example ``inputs`` (tensor, tuple, or dict of kwargs) or ``input_shape``.

    Counting runs on ``device`` (default ``"meta"``: no weights materialized; falls back to cpu
    when the model cannot run there). Rules run unless ``rules=False``; ``select``/``ignore``/
    ``severity``/``options`` override ``config`` (a ``[tool.model-audit]`` table, see
    :func:`model_audit.config.load_config`) which overrides the defaults. ``probe=True`` also runs
    real forward/backward passes on ``device`` (default ``"auto"``: CUDA when available, else CPU).
    The model's mode, parameters, buffers, hooks and gradients are restored afterwards.
    ``symbolic="B,L"`` (with ``input_shape="B,L:int64"``) also gives params/MACs/FLOPs as exact
    formulas in the named dimensions (``report.symbolic``; see docs/symbolic.md).
    """
    count_device = device or "meta"
    if symbolic is not None:
        from .analyses import symbolic as symbolic_costs

        dims, templates, input_shape = symbolic_costs.prepare(symbolic, input_shape, inputs)
    report = engine.audit(model, inputs, input_shape=input_shape, device=count_device, tracer=tracer,
                          backward=backward, mode=mode, name=name)
    if symbolic is not None:
        symbolic_costs.attach(report, model, dims, templates)
    if settings is None:
        settings = RuleSettings.resolve(config, select=select, ignore=ignore, severity=severity, options=options)
    findings: list[Finding] = []
    if rules:
        from .rules.runner import run_rules

        static, notes = run_rules(report.graph, settings, registry=registry, model=model,
                                  source_path=Path(source_path) if source_path else None,
                                  train_script=Path(train_script) if train_script else None,
                                  train_step=train_step, mode=mode)
        findings.extend(static)
        report.notes.extend(notes)
    if probe:
        from .probes import confirm_findings, probe_model

        probe_device = device if device not in (None, "meta") else "auto"
        options = {"mode": "train", **(probe_options or {})}  # probes measure a training step, whatever --mode counts
        from .rules.builtin.measured import RULES as MEASURED, probe_thresholds

        options["thresholds"] = {**probe_thresholds(MEASURED, settings.options), **(options.get("thresholds") or {})}
        result = probe_model(model, report.graph, inputs=inputs, input_shape=input_shape, device=probe_device,
                             loss_fn=loss_fn, targets=targets, seed=seed, **options)
        report.probe = result
        findings = confirm_findings(findings, result, options.get("thresholds")) + list(result.findings)
    report.findings = sorted(settings.apply(findings), key=lambda f: (-f.severity, f.rule, f.layer or ""))
    return report
