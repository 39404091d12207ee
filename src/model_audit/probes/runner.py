"""probe_model(): seeded forward/backward passes on the real model, measured layer by layer.

Order: gradient passes (``batches`` batches, gradients cleared before each, activation hooks on)
→ optional timing pass (CUDA events; default on CUDA) → BatchNorm variance-shift passes (models
with BatchNorm) → sequence-length passes (recurrent models). All of it inside ``isolated``: the
user's parameters, gradients, buffers, modes and RNG state are untouched or restored.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from ..errors import AuditError
from ..progress import Progress
from ..ir.graph import LayerGraph
from ..trace.placement import model_device
from ..trace.tracing import first_line
from .batches import BatchSource, batch_source, make_loss, specs_of, time_axis
from .functional import functional_runner
from .report import LayerProbe, ProbeReport
from .sequence import sequence_growth
from .state import isolated
from .stats import ActivationRecorder, GradientReader, parameter_groups
from .timing import LayerTimer
from .variance import batchnorms, variance_ratios

AUTOCAST = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
_OOM = (torch.OutOfMemoryError,)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None → cuda when available, else cpu; a cuda request without CUDA is an error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise AuditError("probe: --device cuda was requested but CUDA is not available on this machine")
    if target.type == "meta":
        raise AuditError("probe: cannot run on the meta device; use cpu, cuda or auto")
    return target


def probe_model(model: nn.Module, graph: LayerGraph, *, inputs: Any = None, input_shape: Any = None,
                device: str | torch.device | None = "auto", loss_fn: Callable | str | None = None, targets: Any = None,
                seed: int = 0, mode: str = "train", batches: int = 2, batch_size: int | None = None,
                autocast: str | None = None, timing: bool | None = None, bn_variance: bool = True,
                sequence_lengths: Sequence[int] = (10, 100, 500),
                progress: bool = True) -> ProbeReport:
    """Run ``batches`` seeded forward/backward passes and measure every layer of ``graph``.

    ``loss_fn``: a callable ``loss_fn(output)`` (or ``loss_fn(output, targets)`` with ``targets``),
    or a name: ``"mse"`` (default: Σ mean(y²) over float outputs), ``"ce"``, ``"sum"``.
    ``mode``: "train" (default: the state a training step starts from) or "eval".
    ``autocast``: "bf16"/"fp16" runs forward passes under ``torch.autocast``.
    ``timing``: per-layer times (default: on CUDA only).
    """
    if mode not in ("train", "eval"):
        raise AuditError(f"probe: unknown mode {mode!r}; use train or eval")
    if batches < 1:
        raise AuditError("probe: batches must be at least 1")
    if autocast is not None and autocast not in AUTOCAST:
        raise AuditError(f"probe: unknown autocast dtype {autocast!r}; use bf16 or fp16")
    if model_device(model).type == "meta":
        raise AuditError("probe: the model's weights are on the meta device (not materialized); probes need real weights")
    target = resolve_device(device)
    floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
    source = batch_source(model, inputs, input_shape, seed, batch_size, floats[0] if floats else None)
    loss, loss_name = make_loss(loss_fn, targets, seed)
    timing = target.type == "cuda" if timing is None else timing
    cast = AUTOCAST.get(autocast) if autocast else None
    has_bn = bn_variance and bool(batchnorms(graph))
    axis = time_axis(model, source.specs or specs_of(inputs)) if any(l.kind == "recurrent" for l in graph.layers) else None
    steps = batches + int(timing) + int(has_bn) + int(axis is not None and bool(sequence_lengths))
    notes: list[str] = []

    def run(args: tuple, kwargs: dict, call: Callable[[tuple, dict], Any] | None = None) -> Any:
        ctx = torch.autocast(device_type=target.type, dtype=cast) if cast is not None else contextlib.nullcontext()
        with ctx:
            return call(args, kwargs) if call is not None else model(*args, **kwargs)

    bar = Progress(steps, "probing", stream=None) if progress else None
    with isolated(model, target), (bar or contextlib.nullcontext()):
        model.train(mode == "train")
        groups = parameter_groups(graph, model)
        params = [p for p in model.parameters()]
        while True:
            try:
                per_batch, totals, acts = _gradient_passes(model, graph, source, target, batches, seed, run, loss,
                                                           groups, params, bar, notes)
                break
            except _OOM:
                for p in params:
                    p.grad = None
                if target.type == "cuda":
                    torch.cuda.empty_cache()
                smaller = source.halved() if source.synthetic else None
                if smaller is None:
                    raise AuditError("probe: out of CUDA memory with the given inputs; pass a smaller batch or "
                                     "--device cpu") from None
                notes.append(f"CUDA out of memory with batch size {source.batch_size()}; retried with "
                             f"{smaller.batch_size()}")
                source = smaller
        times: dict[str, dict[str, float | None]] = {}
        if timing:
            if bar:
                bar.step("timing")
            times = _guarded(notes, "timing pass", lambda: _timed_pass(model, graph, source, target, seed, run,
                                                                       loss, params)) or {}
        ratios: dict[str, float] = {}
        if has_bn:
            if bar:
                bar.step("BatchNorm variance")
            ratios = _guarded(notes, "BatchNorm variance probe",
                              lambda: variance_ratios(model, graph, lambda i: run(*source.batch(i, target)), batches)) or {}
            model.train(mode == "train")
        sequence = None
        if axis is not None and sequence_lengths:
            if bar:
                bar.step("sequence lengths")
            seq_source = source if source.synthetic else BatchSource(specs_of(inputs), None, source.high, source.dtype, seed)
            seq_loss = loss if targets is None else make_loss("mse", None, seed)[0]  # targets fit one length only
            sequence = sequence_growth(model, seq_source, axis, sequence_lengths, run, seq_loss, target)
    return _assemble(graph, target, mode, loss_name, seed, batches, source, autocast, per_batch, totals, acts,
                     times, ratios, sequence, notes)


def _guarded(notes: list[str], what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as error:  # a side probe failing (CUDA OOM included) must not lose the main measurements
        notes.append(f"{what} failed: {first_line(error)}")
        return None


def _gradient_passes(model: nn.Module, graph: LayerGraph, source: BatchSource, device: torch.device, batches: int,
                     seed: int, run: Callable, loss: Callable, groups: list, params: list,
                     bar: Progress | None, notes: list[str]) -> tuple[list[dict[str, tuple[float, float]]], list[float | None], dict]:
    reader = GradientReader(groups, model)
    per_batch: list[dict[str, torch.Tensor]] = []
    totals: list[torch.Tensor | None] = []
    with ActivationRecorder(graph) as recorder:
        through_graph = functional_runner(model, graph, recorder, notes)
        for index in range(batches):
            if bar:
                bar.step(f"batch {index + 1}/{batches}")
            for p in params:
                p.grad = None
            torch.manual_seed(seed * 7919 + index)  # dropout masks: seeded, and the user's RNG is restored
            recorder.new_batch()
            args, kwargs = source.batch(index, device)
            try:
                value = loss(run(args, kwargs, through_graph))
                value.backward()
            except (AuditError, *_OOM):
                raise
            except Exception as error:
                raise AuditError(f"probe: forward/backward failed on {device.type}: {first_line(error)}") from None
            figures, total = reader.read()
            per_batch.append(figures)
            totals.append(total)
    host = [{name: (float(g), reader.weight_norms[name]) for name, g in figures.items()} for figures in per_batch]
    return host, [None if t is None else float(t) for t in totals], recorder.finish()


def _timed_pass(model: nn.Module, graph: LayerGraph, source: BatchSource, device: torch.device, seed: int,
                run: Callable, loss: Callable, params: list) -> dict[str, dict[str, float | None]]:
    for p in params:
        p.grad = None
    torch.manual_seed(seed)
    args, kwargs = source.batch(0, device)
    with LayerTimer(graph, device) as timer:
        loss(run(args, kwargs)).backward()
    for p in params:
        p.grad = None
    return timer.results({layer.name: layer.flops for layer in graph.layers})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _assemble(graph: LayerGraph, device: torch.device, mode: str, loss_name: str, seed: int, batches: int,
              source: BatchSource, autocast: str | None, per_batch: list, totals: list, acts: dict, times: dict,
              ratios: dict, sequence: dict | None, notes: list[str]) -> ProbeReport:
    layers: list[LayerProbe] = []
    for layer in graph.layers:
        grads = [b[layer.name] for b in per_batch if layer.name in b]
        act = acts.get(layer.name, {})
        if not grads and not act and layer.name not in times and layer.name not in ratios:
            continue
        layers.append(LayerProbe(
            name=layer.name, kind=layer.kind,
            grad_norm=_mean([g for g, _ in grads]) if grads else None,
            weight_norm=_mean([w for _, w in grads]) if grads else None,
            dead_fraction=act.get("dead_fraction"), units=act.get("units"), saturation=act.get("saturation"),
            act_mean=act.get("act_mean"), act_std=act.get("act_std"), nonfinite=bool(act.get("nonfinite")),
            times=times.get(layer.name), bn_variance_ratio=ratios.get(layer.name)))
    weighted = [l.name for l in layers if l.grad_norm is not None and l.kind != "norm"]
    first_nonfinite = next((l.name for l in layers if l.nonfinite), None)
    measured = [t for t in totals if t is not None]
    if not source.synthetic and batches > 1:
        notes.append("the given inputs were used for every batch: dead-unit statistics cover those samples only")
    return ProbeReport(
        device=str(device), mode=mode, loss=loss_name, seed=seed, batches=batches, batch_size=source.batch_size(),
        autocast=autocast, total_grad_norm=_mean(measured) if measured else None,
        total_grad_norms=measured, layers=layers, first_nonfinite=first_nonfinite,
        first_layer=weighted[0] if weighted else None, last_layer=weighted[-1] if weighted else None,
        sequence=sequence, notes=list(dict.fromkeys(notes)))



