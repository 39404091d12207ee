"""The public ``audit()``: the only composer of the pipeline.

trace (``trace/``) → analyses (``analyses/``) → probes (``probes/``, measurements only) → rules
(``rules/``: static rules read the graph, measured rules judge the probe) → extras (fvcore
cross-check, effective receptive field) → one frozen :class:`AuditReport`. The CLI, ``model-audit
check`` and the pytest plugin parse their inputs, call this, and render; nothing else composes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
import torch.nn as nn

from .config import ProjectConfig
from .errors import AuditError, InputSpecError, ModelExecutionError, user_code
from .ir.graph import LayerGraph
from .report.audit_report import AuditReport
from .report.build import build_report
from .rules.settings import RuleSettings

COUNT_DEVICES = ("meta", "cpu", "cuda", "auto")


@dataclass(frozen=True)
class AuditOptions:
    """Everything ``audit()`` can be asked, grouped by the stage that reads it.

    Every field is also a keyword argument of :func:`audit` (``audit(model, x, mode="train")``).
    """

    # tracing and counting
    input_shape: Any = None
    device: str | None = None  # meta (default for counting), cpu, cuda or auto (see resolve_devices)
    tracer: str = "auto"
    backward: bool = False
    mode: str = "eval"
    name: str | None = None
    # rules
    rules: bool = True
    select: Iterable[str] | None = None
    ignore: Iterable[str] | None = None
    severity: dict[str, str] | None = None
    rule_options: dict[str, dict[str, Any]] | None = None  # rule options by rule id (``options=`` in audit())
    config: ProjectConfig | None = None
    settings: RuleSettings | None = None
    source_path: str | Path | None = None
    train_script: str | Path | None = None
    train_step: Callable | None = None
    registry: Any = None
    # probes
    probe: bool = False
    loss_fn: Callable | str | None = None
    targets: Any = None
    seed: int = 0
    probe_options: dict[str, Any] | None = None
    # extras
    cross_check: str | None = None  # "fvcore"
    erf: bool = False  # effective receptive field (needs real weights)
    # memory (analyses/memory): a training step or inference, measured on meta tensors
    memory: str | None = None  # "train" | "inference"
    optimizer: Any = "adamw"
    optimizer_impl: str = "auto"  # "foreach" | "fused" | "forloop"; auto: torch's default on the planned GPU
    amp: str | None = None  # "bf16" | "fp16" autocast
    batch: int | None = None
    memory_options: dict[str, Any] | None = None  # checkpoint, gpu_memory, shard, context, weights_dtype
    # formulas (analyses/symbolic): costs as exact polynomials in named input dimensions
    symbolic: str | None = None  # "B,L" with input_shape "B,L:int64" (docs/symbolic.md)
    # presentation
    group: bool = True  # one finding per rule and repeated pattern, with its occurrences

    def with_(self, **changes: Any) -> "AuditOptions":
        return replace(self, **changes)


OPTION_NAMES = frozenset(f.name for f in fields(AuditOptions))


@dataclass(frozen=True)
class Devices:
    """Where each stage runs, resolved once from the one ``device`` the user gave."""

    count: str  # tracing and counting: meta unless asked (falls back to cpu by itself)
    probe: str  # real passes: the given device, or auto (cuda when available, else cpu)
    erf: str  # the effective receptive field: cuda when asked and available, else cpu


def resolve_devices(device: str | None) -> Devices:
    if device is not None and device not in COUNT_DEVICES and not str(device).startswith("cuda"):
        raise AuditError(f"unknown device {device!r}; use one of {', '.join(COUNT_DEVICES)}")
    cuda = torch.cuda.is_available()
    return Devices(
        count=device or "meta",
        probe=device if device not in (None, "meta") else "auto",
        erf="cuda" if device is not None and (device == "auto" or str(device).startswith("cuda")) and cuda else "cpu",
    )


def audit(model: nn.Module, inputs: Any = None, *, options: AuditOptions | Mapping[str, Any] | None = None,
          **kwargs: Any) -> AuditReport:
    """Audit ``model`` on example ``inputs`` (tensor, tuple, or dict of kwargs) or ``input_shape``.

    Options come as ``options=AuditOptions(...)`` and/or keyword arguments (which win; ``options={rule id:
    {option: value}}`` as a mapping still sets rule options, as before ``AuditOptions``): counting runs
    on ``device`` (default ``"meta"``: no weights materialized; falls back to cpu when the model cannot
    run there). Rules run unless ``rules=False``; ``select``/``ignore``/``severity``/``options``
    override ``config`` (a ``[tool.model-audit]`` table, see :func:`model_audit.config.load_config`)
    which overrides the defaults. ``probe=True`` also runs real forward/backward passes (default
    device ``"auto"``: CUDA when available, else CPU); ``cross_check="fvcore"`` and ``erf=True`` add
    those sections. The model's mode, parameters, buffers, hooks and gradients are restored afterwards.
    """
    if options is not None and not isinstance(options, AuditOptions):
        kwargs = {"rule_options": options, **kwargs}  # the rule-options mapping earlier releases took
        options = None
    unknown = sorted(set(kwargs) - OPTION_NAMES)
    if unknown:
        raise TypeError(f"audit() got unexpected keyword argument(s) {', '.join(unknown)}")
    opts = replace(options or AuditOptions(), **kwargs)
    from .trace.engine import gc_paused

    with gc_paused():  # cyclic GC passes would otherwise land anywhere in the pipeline (up to half a cold audit)
        return _audit(model, inputs, opts)


def _audit(model: nn.Module, inputs: Any, opts: AuditOptions) -> AuditReport:
    devices = resolve_devices(opts.device)
    symbolic = None
    if opts.symbolic is not None:  # named dimensions: audit at the base point, then fit the formulas around it
        from .analyses import symbolic as symbolic_costs

        dims, templates, base_shape = symbolic_costs.prepare(opts.symbolic, opts.input_shape, inputs)
        if opts.memory is not None and (opts.batch is not None or "batch" in (opts.memory_options or {})):
            raise InputSpecError("--batch with --symbolic: the batch is a named dimension there; set its base "
                                 "size in --symbolic instead (e.g. --symbolic B=32,L)")
        symbolic, opts = (dims, templates), replace(opts, input_shape=base_shape)
    settings = opts.settings or RuleSettings.resolve(opts.config, select=opts.select, ignore=opts.ignore,
                                                     severity=opts.severity, options=opts.rule_options)
    try:
        # a symbolic audit attributes its counting runs' ops by the base run's (analyses/symbolic)
        graph = trace_and_analyse(model, inputs, opts, devices, record=symbolic is not None)
    except (ModelExecutionError, InputSpecError) as error:  # no trace: the trace-free rules still run
        _rules_without_trace(model, error, opts, settings)
        raise
    model = graph.model  # what was audited: unwrapped from DataParallel/compile, lazies materialized on a copy
    memory = _memory(model, inputs, graph, opts) if opts.memory is not None else None
    if symbolic is not None:  # with the memory analysis, its activation and peak bytes become formulas too
        symbolic_costs.attach(graph, model, *symbolic, mode=opts.mode, memory=memory)
    probe = _probe(model, inputs, graph, opts, devices, settings) if opts.probe else None
    findings, rule_notes = _rules(model, graph, opts, settings, probe)
    name = opts.name or type(model).__name__
    report = build_report(graph, name=name, mode=opts.mode, notes=rule_notes, findings=findings, probe=probe)
    return _extras(model, inputs, report, opts, devices)


def trace_and_analyse(model: nn.Module, inputs: Any, opts: AuditOptions, devices: Devices | None = None,
                      record: bool = False) -> LayerGraph:
    """The first half of the pipeline: the traced, counted LayerGraph with every analysis applied."""
    from .analyses import run_analyses
    from .plugins import load_plugin_costs
    from .trace.engine import trace_model

    load_plugin_costs()
    devices = devices or resolve_devices(opts.device)
    graph = trace_model(model, inputs, input_shape=opts.input_shape, device=devices.count, tracer=opts.tracer,
                        backward=opts.backward, mode=opts.mode, record=record)
    run_analyses(graph)
    return graph


def _memory(model: nn.Module, inputs: Any, graph: LayerGraph, opts: AuditOptions) -> Any:
    """The step's bytes (JSON summary.memory) and each layer's saved/live bytes (layers[].memory);
    returns the options the step ran with (a symbolic audit measures its other shapes with them)."""
    from .analyses.memory.analysis import MemoryOptions, analyze, annotate_layers

    memory_opts = MemoryOptions.build(opts.memory, **{"optimizer": opts.optimizer, "optimizer_impl": opts.optimizer_impl,
                                                      "amp": opts.amp, "batch": opts.batch,
                                                      **(opts.memory_options or {})})
    with user_code(f"forward of {type(model).__name__} (memory)"):
        graph.summaries["memory"], step = analyze(model, inputs, opts.input_shape, memory_opts, mode=opts.mode)
    annotate_layers(graph.layers, step)
    return memory_opts


def _probe(model: nn.Module, inputs: Any, graph: LayerGraph, opts: AuditOptions, devices: Devices,
           settings: RuleSettings) -> Any:
    from .probes import probe_model

    options = {"mode": "train", **(opts.probe_options or {})}  # probes measure a training step, whatever --mode counts
    options.pop("thresholds", None)  # thresholds are the measured rules' options (settings.options)
    with user_code(f"forward of {type(model).__name__} (probe)"):
        return probe_model(model, graph, inputs=inputs, input_shape=opts.input_shape, device=devices.probe,
                           loss_fn=opts.loss_fn, targets=opts.targets, seed=opts.seed, **options)


def _rules(model: nn.Module, graph: LayerGraph, opts: AuditOptions, settings: RuleSettings,
           probe: Any) -> tuple[list, list[str]]:
    if not opts.rules:
        return [], []
    from .rules.runner import run_rules

    found, notes = run_rules(graph, settings, registry=opts.registry, model=model,
                             source_path=Path(opts.source_path) if opts.source_path else None,
                             train_script=Path(opts.train_script) if opts.train_script else None,
                             train_step=opts.train_step, mode=opts.mode, probe=probe)
    findings = sorted(settings.apply(found), key=lambda f: (-f.severity, f.rule, f.layer or ""))
    if opts.group:  # repeated blocks: one finding per rule and pattern, with its occurrences
        from .rules.grouping import group_findings

        findings = group_findings(findings)
    return findings, notes


def _rules_without_trace(model: nn.Module, error: Exception, opts: AuditOptions, settings: RuleSettings) -> None:
    """Rules that need only the module tree or the scripts (unclipped-rnn) run even when tracing failed;
    their findings and the rules that could not run travel on the error."""
    if not opts.rules or not isinstance(model, nn.Module):
        return
    from .rules.tree_only import attach, run_without_trace

    found, notes = run_without_trace(model, f"tracing failed: {error}", settings, registry=opts.registry,
                                     source_path=Path(opts.source_path) if opts.source_path else None,
                                     train_script=Path(opts.train_script) if opts.train_script else None,
                                     train_step=opts.train_step, mode=opts.mode)
    attach(error, settings.apply(found), notes)


def _extras(model: nn.Module, inputs: Any, report: AuditReport, opts: AuditOptions, devices: Devices) -> AuditReport:
    from .rules.locate import model_location  # where budget breaches point: the model's class in the user's code

    sections: dict[str, Any] = {
        "model_source": model_location(model, Path(opts.source_path) if opts.source_path else None)}
    if opts.cross_check is not None:
        if opts.cross_check != "fvcore":
            raise AuditError(f"unknown cross-check {opts.cross_check!r}; use fvcore")
        from .compare.fvcore import fvcore_crosscheck

        with user_code(f"forward of {type(model).__name__} (fvcore cross-check)"):
            sections["cross_check"] = fvcore_crosscheck(model, inputs, opts.input_shape, report)
    if opts.erf:
        from .probes.erf import effective_receptive_field

        with user_code(f"forward of {type(model).__name__} (effective receptive field)"):
            sections["effective_receptive_field"] = effective_receptive_field(
                model, inputs if inputs is not None else opts.input_shape, seed=opts.seed, device=devices.erf,
                report=report)
    return report.with_sections(**sections) if sections else report
