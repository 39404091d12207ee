"""audit(): trace, count and annotate one model, leaving the model exactly as it was."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn as nn

from ..errors import AuditError, InputSpecError, ModelExecutionError
from ..report.audit_report import AuditReport
from .counting import OpCounter
from .fx_tracer import run_fx, trace_graph
from .hook_tracer import HookTracer
from ..target.inputs import as_specs, move_inputs, normalize_inputs
from ..ir.graph import LayerGraph
from ..analyses.params import annotate_params
from ..analyses.receptive_field import annotate_receptive_fields
from .placement import model_device, placed_on, preserved_state
from .shapes import iter_tensors, shapes_of
from .tracing import LayerFailure, first_line, is_leaf_module, meta_unsupported

TRACERS = ("auto", "fx", "hooks")
DEVICES = ("meta", "cpu", "cuda", "auto")


def _resolve_device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("meta", "cpu") and not str(device).startswith("cuda"):
        raise AuditError(f"unknown device {device!r}; use one of meta, cpu, cuda, auto")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise AuditError("--device cuda was requested but CUDA is not available on this machine")
    return torch.device(device)


def _example(model: nn.Module, inputs: Any, input_shape: Any, device: torch.device) -> tuple[tuple, dict]:
    if inputs is not None and input_shape is not None:
        raise InputSpecError("give either inputs or input_shape, not both")
    if inputs is not None:
        args, kwargs = normalize_inputs(inputs)
        return move_inputs(args, device), move_inputs(kwargs, device)
    if input_shape is not None:
        return tuple(spec.build(device) for spec in as_specs(input_shape)), {}
    raise InputSpecError(
        f"no example input for {type(model).__name__}: pass inputs=... or input_shape=(1, 3, 224, 224) "
        "(CLI: --input 1,3,224,224), or define example_inputs()/input_shape in the model file"
    )


def _run_once(model: nn.Module, inputs: Any, input_shape: Any, device: torch.device, tracer: str,
              backward: bool, training: bool) -> LayerGraph:
    """One traced, counted execution on ``device``; raises LayerFailure when a layer rejects its input."""
    notes: list[str] = []
    gm = None
    counter = OpCounter()
    with preserved_state(model, training), placed_on(model, device):
        # Traced in the audit's mode: fx bakes ``self.training`` branches into the graph.
        # A model that is itself a leaf module (nn.Conv2d, nn.LSTM) is one layer: fx would trace
        # into its forward and report its weight reads and functional call as separate rows.
        if tracer == "fx" or (tracer == "auto" and not is_leaf_module(model)):
            try:
                gm = trace_graph(model)
            except Exception as error:  # fx cannot trace it: fall back to hooks, and say why
                if tracer == "fx":
                    raise AuditError(f"torch.fx could not trace {type(model).__name__}: {first_line(error)}") from error
                notes.append(f"torch.fx could not trace the model ({first_line(error)}); used module hooks")
        args, kwargs = _example(model, inputs, input_shape, device)
        grad = torch.enable_grad() if backward else torch.no_grad()
        with grad:
            with counter:
                if gm is not None:
                    layers, input_names, outputs, output = run_fx(gm, model, args, kwargs, counter, backward)
                    used = "fx"
                else:
                    hooks = HookTracer(model, counter, backward)
                    output = hooks.run(args, kwargs)
                    layers, input_names, outputs, used = hooks.layers, hooks.input_names, hooks.outputs_of(output), "hooks"
                if backward:
                    _backward(output, counter)
    return LayerGraph(layers=layers, model=model, tracer=used, device=device.type,
                      input_shapes=shapes_of((args, kwargs)), notes=notes, input_names=input_names,
                      output_names=outputs, unowned_backward_macs=counter.unowned_macs,
                      unowned_backward_flops=counter.unowned_flops)


def _backward(output: Any, counter: OpCounter) -> None:
    floats = [t for t in iter_tensors(output) if t.is_floating_point() and t.requires_grad]
    if not floats:
        return
    counter.sink = None
    loss = sum(t.sum() for t in floats)
    counter.backward = True
    counter.sink = None
    loss.backward()
    counter.backward = False
    counter.sink = None


def audit(model: nn.Module, inputs: Any = None, *, input_shape: Any = None, device: str = "meta",
          tracer: str = "auto", backward: bool = False, mode: str = "eval", name: str | None = None) -> AuditReport:
    """Audit ``model`` on example ``inputs`` (tensor, tuple, or dict of kwargs) or ``input_shape``.

    ``device="meta"`` (default) runs without materializing weights and falls back to CPU when the
    model cannot run on meta (the report's notes say so). ``mode`` is the train/eval mode the model
    is audited in; the model's own mode, parameters, buffers and hooks are restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise AuditError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if tracer not in TRACERS:
        raise AuditError(f"unknown tracer {tracer!r}; use one of {', '.join(TRACERS)}")
    if mode not in ("eval", "train"):
        raise AuditError(f"unknown mode {mode!r}; use eval or train")
    target = _resolve_device(device)
    training = mode == "train"
    notes: list[str] = []
    with _gc_paused():
        return _audit(model, inputs, input_shape, target, tracer, backward, training, notes, name, mode)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Tracing allocates many short-lived cyclic objects (fx nodes, meta tensors): cyclic GC passes
    cost up to half of a cold audit. Reference counting still frees memory; GC runs again after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _audit(model: nn.Module, inputs: Any, input_shape: Any, target: torch.device, tracer: str, backward: bool,
           training: bool, notes: list[str], name: str | None, mode: str) -> AuditReport:
    try:
        graph = _run_on_devices(model, inputs, input_shape, target, tracer, backward, training, notes)
    except LayerFailure as failure:
        if tracer == "auto" and "Proxy(" in str(failure):
            # fx baked trace-time placeholders into the model's own assertion message: the hooks
            # tracer runs the real Python code and either succeeds or reports the real values.
            notes.append(f"the fx graph failed with a trace-time message ({failure}); used module hooks")
            try:
                graph = _run_on_devices(model, inputs, input_shape, target, "hooks", backward, training, notes)
            except LayerFailure as second:
                raise ModelExecutionError(str(second), layer=second.layer.name) from None
        else:
            raise ModelExecutionError(str(failure), layer=failure.layer.name) from None
    graph.notes = notes + graph.notes
    annotate_params(graph)
    annotate_receptive_fields(graph)
    return build_report(graph, name or type(model).__name__, mode)


def _run_on_devices(model: nn.Module, inputs: Any, input_shape: Any, target: torch.device, tracer: str,
                    backward: bool, training: bool, notes: list[str]) -> LayerGraph:
    """Run on ``target``; when that is meta and a layer fails, retry on the model's real device (cpu)."""
    try:
        return _run_once(model, inputs, input_shape, target, tracer, backward, training)
    except LayerFailure as failure:
        if target.type != "meta":
            raise
        fallback = torch.device("cpu") if model_device(model).type in ("meta", "cpu") else model_device(model)
        graph = _run_once(model, inputs, input_shape, fallback, tracer, backward, training)
        notes.append(f"could not run on the meta device ({failure}); ran on {fallback.type} instead")
        return graph


def build_report(graph: LayerGraph, name: str, mode: str) -> AuditReport:
    layers = graph.layers
    uncounted: dict[str, int] = {}
    for layer in layers:
        for op, count in layer.uncounted_ops.items():
            uncounted[op] = uncounted.get(op, 0) + count
    backward = any(layer.backward_flops is not None for layer in layers)
    params = sum(layer.params for layer in layers)
    return AuditReport(
        model=name,
        tracer=graph.tracer,
        device=graph.device,
        mode=mode,
        input_shapes=graph.input_shapes,
        layers=layers,
        params=params,
        trainable_params=sum(layer.trainable_params for layer in layers),
        params_without_bias=params - sum(layer.bias_params for layer in layers),
        params_without_norm=params - sum(layer.norm_params for layer in layers),
        buffers=sum(layer.buffers for layer in layers),
        macs=sum(layer.macs for layer in layers),
        flops=sum(layer.flops for layer in layers),
        uncounted_ops=uncounted,
        backward_macs=sum(layer.backward_macs or 0 for layer in layers) + graph.unowned_backward_macs if backward else None,
        backward_flops=sum(layer.backward_flops or 0 for layer in layers) + graph.unowned_backward_flops if backward else None,
        notes=list(graph.notes),
        inputs=list(graph.input_names),
        outputs=list(graph.output_names),
        extra={},
        receptive_field=graph.receptive_field,
        module=graph.model,
        graph=graph,
    )
