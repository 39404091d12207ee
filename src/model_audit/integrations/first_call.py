"""Audit a module on the arguments of its first forward call, on meta, before that call runs.

Shared by the Lightning and Hugging Face callbacks. A forward pre-hook sees exactly what the
training loop feeds the model (whatever the batch format), removes itself, and audits the module
on meta copies of those arguments: the real tensors and weights are never read, nothing is
allocated, the model's parameters, buffers, modes and hooks are restored by the audit, and the
random number generators are forked so the training run after it is bitwise what it would have
been without it. A budget breach raises ``BudgetExceeded`` before the first optimizer step.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from ..api import audit
from ..report.audit_report import AuditReport
from ..report.budget import Budget, BudgetExceeded, check_budget

PREFIX = "model_audit/"


def as_budget(budget: Budget | Mapping[str, Any] | None) -> Budget | None:
    """A Budget from a Budget or a mapping such as ``{"params": "25M", "findings": "error"}``."""
    if budget is None or isinstance(budget, Budget):
        return budget
    return Budget.parse(where="model-audit callback budget", **dict(budget))


def figures(report: AuditReport) -> dict[str, float]:
    """The numbers a training logger can plot, under ``model_audit/``."""
    values = {"params": report.params, "trainable_params": report.trainable_params, "macs": report.macs,
              "flops": report.flops, "findings": len(report.findings)}
    return {PREFIX + key: float(value) for key, value in values.items()}


def summary_line(report: AuditReport) -> str:
    from ..units import format_count

    rules = sorted({f.rule for f in report.findings})
    return (f"model-audit: {report.model}: params {format_count(report.params)}, MACs {format_count(report.macs)}, "
            f"FLOPs {format_count(report.flops)} for input {[list(s) for s in report.input_shapes]}, "
            f"{len(report.findings)} finding(s)" + (f" ({', '.join(rules)})" if rules else ""))


def _to_meta(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return torch.empty_like(obj, device="meta")
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_to_meta(o) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_meta(o) for o in obj)
    if isinstance(obj, Mapping):
        return {k: _to_meta(v) for k, v in obj.items()}
    return obj


def _call_inputs(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """audit() takes positional inputs or keyword inputs: bind a mixed call to keywords."""
    if not kwargs:
        return tuple(args)
    if not args:
        return dict(kwargs)
    return dict(inspect.signature(module.forward).bind(*args, **kwargs).arguments)


def audit_call(module: nn.Module, args: tuple, kwargs: dict, options: Mapping[str, Any]) -> AuditReport:
    """Audit ``module`` on meta copies of one call's arguments, RNG state untouched."""
    inputs = _to_meta(_call_inputs(module, args, kwargs))
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        return audit(module, inputs, **{"device": "meta", **options})


class FirstCallAudit:
    """Holds the pre-hook; ``on_report(report)`` runs after the audit, then the budget is checked."""

    def __init__(self, options: Mapping[str, Any], budget: Budget | None,
                 on_report: Callable[[AuditReport], None]) -> None:
        self.options = dict(options)
        self.budget = budget
        self.on_report = on_report
        self.report: AuditReport | None = None
        self._handle: Any = None

    def attach(self, module: nn.Module) -> None:
        self.detach()
        self._handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @property
    def waiting(self) -> bool:
        return self._handle is not None

    def _hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.detach()  # first call only; also keeps the audit's own forward from re-entering
        self.report = audit_call(module, args, kwargs, self.options)
        self.on_report(self.report)
        if self.budget is not None:
            breaches = check_budget(self.report, self.budget)
            if breaches:
                raise BudgetExceeded(breaches)
        return None
