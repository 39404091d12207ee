"""audit(): trace, count and annotate one model, leaving the model exactly as it was."""
from __future__ import annotations

import gc
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

import torch
import torch.nn as nn

from ..errors import AuditError, InputSpecError, ModelExecutionError, user_code
from .counting import OpCounter
from .fx_tracer import run_fx, trace_graph
from .hook_tracer import HookTracer
from ..target.inputs import as_specs, move_inputs, normalize_inputs
from ..ir.graph import LayerGraph
from .untouched import recursion_room
from .placement import model_device, placed_on, preserved_state
from .prepare import prepare
from .index_guard import IndexGuard, pair_tensors
from .shapes import iter_tensors, shapes_of
from .tracing import LayerFailure, first_line, is_leaf_module

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
              backward: bool, training: bool, record: bool = False) -> LayerGraph:
    """One traced, counted execution on ``device``; raises LayerFailure when a layer rejects its input."""
    notes: list[str] = []
    gm = None
    counter = OpCounter()
    counter.record = [] if record else None
    with ExitStack() as stack:
        try:
            stack.enter_context(preserved_state(model, training))
        except Exception as error:  # a train() override with another signature or its own bug
            raise ModelExecutionError(f"{type(model).__name__}.train({training}) raised {type(error).__name__}: "
                                      f"{first_line(error)} (model-audit sets the audit mode with model.train)"
                                      ) from None
        stack.enter_context(placed_on(model, device))
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
        if device.type == "meta" and inputs is not None:
            guard = IndexGuard(pair_tensors(normalize_inputs(inputs), (args, kwargs)))
            counter.index_guard = guard or None
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
                      unowned_backward_flops=counter.unowned_flops,
                      unowned_macs=counter.unowned_forward_macs, unowned_flops=counter.unowned_forward_flops,
                      unowned_uncounted=dict(counter.unowned_uncounted), op_records=counter.record,
                      fx_graph=gm if record else None)


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


def trace_model(model: nn.Module, inputs: Any = None, *, input_shape: Any = None, device: str = "meta",
                tracer: str = "auto", backward: bool = False, mode: str = "eval", record: bool = False) -> LayerGraph:
    """Trace and count ``model`` on example ``inputs`` (tensor, tuple, or dict of kwargs) or ``input_shape``.

    ``device="meta"`` (default) runs without materializing weights and falls back to CPU when the
    model cannot run on meta (the graph's notes say so). ``mode`` is the train/eval mode the model
    is traced in; the model's own mode, parameters, buffers and hooks are restored afterwards. The
    analyses (``model_audit.analyses``) annotate the returned graph. ``record`` keeps every forward
    op with its layer in ``graph.op_records`` (a symbolic audit attributes its other runs' ops by it)
    and the fx graph that ran in ``graph.fx_graph`` (its counting runs rerun it).
    """
    if not isinstance(model, nn.Module):
        raise AuditError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if tracer not in TRACERS:
        raise AuditError(f"unknown tracer {tracer!r}; use one of {', '.join(TRACERS)}")
    if mode not in ("eval", "train"):
        raise AuditError(f"unknown mode {mode!r}; use eval or train")
    target = _resolve_device(device)
    training = mode == "train"
    model, notes = prepare(model, inputs, input_shape)  # unwrap DataParallel/compile, materialize lazies
    with gc_paused(), recursion_room(), user_code(f"forward of {type(model).__name__}"):
        return _trace(model, inputs, input_shape, target, tracer, backward, training, notes, record)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Tracing allocates many short-lived cyclic objects (fx nodes, meta tensors): cyclic GC passes
    cost up to half of a cold audit. Reference counting still frees memory; GC runs again after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _trace(model: nn.Module, inputs: Any, input_shape: Any, target: torch.device, tracer: str, backward: bool,
           training: bool, notes: list[str], record: bool = False) -> LayerGraph:
    try:
        graph = _run_on_devices(model, inputs, input_shape, target, tracer, backward, training, notes, record)
    except LayerFailure as failure:
        if tracer == "auto" and _fx_artifact(failure):
            # fx baked trace-time placeholders into the model's own assertion message: the hooks
            # tracer runs the real Python code and either succeeds or reports the real values.
            notes.append(f"the fx graph failed with a trace-time message ({failure}); used module hooks")
            try:
                graph = _run_on_devices(model, inputs, input_shape, target, "hooks", backward, training, notes, record)
            except LayerFailure as second:
                raise ModelExecutionError(str(second), layer=second.layer.name) from None
        else:
            raise ModelExecutionError(str(failure), layer=failure.layer.name) from None
    graph.notes = notes + graph.notes
    return graph


def _fx_artifact(failure: LayerFailure) -> bool:
    """A failure fx itself caused: trace-time placeholders in a message, or fx's immutable argument
    lists mutated by the model's own helper (torchvision's swin3d ``_get_window_and_shift_size``)."""
    text = str(failure)
    return "Proxy(" in text or "immutable_list" in text or "immutable_dict" in text


def _run_on_devices(model: nn.Module, inputs: Any, input_shape: Any, target: torch.device, tracer: str,
                    backward: bool, training: bool, notes: list[str], record: bool = False) -> LayerGraph:
    """Run on ``target``; when that is meta and a layer fails, retry on the model's real device (cpu)."""
    try:
        return _run_once(model, inputs, input_shape, target, tracer, backward, training, record)
    except LayerFailure as failure:
        if target.type != "meta":
            raise
        fallback = torch.device("cpu") if model_device(model).type in ("meta", "cpu") else model_device(model)
        graph = _run_once(model, inputs, input_shape, fallback, tracer, backward, training, record)
        notes.append(f"could not run on the meta device ({failure}); ran on {fallback.type} instead")
        return graph
