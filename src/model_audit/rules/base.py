"""What a rule is: a stable id, a default severity, options, documentation, and a check function."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch.nn as nn

from ..ir.graph import Layer, LayerGraph
from ..report.finding import Finding, Severity

RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class RuleDoc:
    """One shape for every rule's documentation (after ruff's rule pages), in Markdown."""

    what: str  # what it flags
    why: str  # why it matters: the formula or the citation
    example: str  # a model snippet that triggers it
    fix: str  # what to write instead


@dataclass
class RuleContext:
    """What a rule sees besides the graph: its resolved options and the audit's surroundings."""

    rule: "Rule"
    options: dict[str, Any]
    model: nn.Module | None = None
    source_path: Path | None = None  # the target file, when the model came from one
    train_script: Path | None = None  # --train-script / train_script=
    train_step: Callable | None = None  # train_step= given to the API
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    mode: str = "eval"
    probe: Any = None  # the ProbeReport measured rules judge (None without --probe)
    graph: LayerGraph | None = None  # the graph being checked (locates the k-th call of a functional op)

    def finding(self, layer: Layer | str | None, message: str, *, fix: str | None = None,
                severity: Severity | str | None = None, **data: Any) -> Finding:
        """A finding of this rule; ``fix`` defaults to the rule's documented fix summary."""
        name = layer.name if isinstance(layer, Layer) else layer
        source = self.source_of(layer) if isinstance(layer, Layer) else None
        return Finding(
            rule=self.rule.id,
            severity=Severity.parse(severity) if severity is not None else self.rule.severity,
            layer=name,
            message=message,
            fix=fix if fix is not None else self.rule.fix_hint,
            source=source,
            data=data,
        )

    def source_of(self, layer: Layer) -> str | None:
        """The user's line for the layer (``rules/locate.py``): where it is built, or where its op is called;
        never a file of an installed package (torch, torchvision): None when no user code is involved."""
        if self.model is None:
            from .locate import is_user_file

            return layer.source if is_user_file((layer.source or "").rpartition(":")[0]) else None
        from .locate import locate

        return locate(self.model, layer, self.source_path, self.graph)


def graded(value: float, warning: float, error: float) -> Severity:
    """A graded rule's severity: error at ``value >= error``, warning at ``value >= warning``, else info."""
    return Severity.ERROR if value >= error else Severity.WARNING if value >= warning else Severity.INFO


CheckFn = Callable[[LayerGraph, RuleContext], Iterable[Finding]]


@dataclass
class Rule:
    id: str
    severity: Severity
    summary: str  # one line, shown by ``model-audit rules``
    doc: RuleDoc
    check: CheckFn
    options: dict[str, Any] = field(default_factory=dict)  # option name -> default value
    option_help: dict[str, str] = field(default_factory=dict)
    fix_hint: str = ""  # one-line fix put on findings by default
    plugin: str = ""  # filled in by the registry: the plugin that provided the rule
    measured: bool = False  # findings come from probes (--probe), not from reading the graph
    needs_trace: bool = True  # False: the module tree and the scripts suffice (runs even when tracing fails)

    def __post_init__(self) -> None:
        if not RULE_ID.match(self.id):
            raise ValueError(f"rule id {self.id!r} is not kebab-case")
        self.severity = Severity.parse(self.severity)

    def __call__(self, graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
        return self.check(graph, ctx)


def rule(*, id: str, severity: str | Severity, summary: str, what: str, why: str, example: str, fix: str,
         fix_hint: str = "", options: dict[str, Any] | None = None,
         option_help: dict[str, str] | None = None, measured: bool = False,
         needs_trace: bool = True) -> Callable[[CheckFn], Rule]:
    """Decorator turning ``check(graph, ctx) -> Iterable[Finding]`` into a :class:`Rule`."""

    def wrap(check: CheckFn) -> Rule:
        return Rule(id=id, severity=Severity.parse(severity), summary=summary,
                    doc=RuleDoc(what=what.strip(), why=why.strip(), example=example.strip("\n"), fix=fix.strip()),
                    check=check, options=dict(options or {}), option_help=dict(option_help or {}),
                    fix_hint=fix_hint or summary, measured=measured, needs_trace=needs_trace)

    return wrap
