"""The memory analysis ``api.audit`` runs: one step, plus the what-ifs the options ask for.

Composes ``step.measure_step`` (the measured step), ``fit`` (headroom and largest batch),
``sharding`` (per-rank model states), ``kv_cache`` (decoders at a context length) and the
checkpointing what-if (the same step with ``torch.utils.checkpoint`` on the chosen blocks) into
one plain dict: ``summary.memory`` in the JSON. Per-layer figures go on the layers themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from ...errors import AuditError, InputSpecError
from ...target.inputs import as_specs, normalize_inputs
from .fit import batch_of, fit_summary, largest_batch, with_batch
from .gpus import blas_workspace_of, gpu_capacity
from .kv_cache import kv_cache_bytes
from .optimizers import resolve_impl
from .runtime import workspace_bytes
from .sharding import ShardSpec, deepspeed_figure, sharded_states
from .step import AMP_DTYPES, StepMemory, measure_step

KINDS = ("train", "inference")


@dataclass
class MemoryOptions:
    """What to measure. ``amp_device`` is the device the step is planned for (cuda by default): its
    autocast op lists apply, and ``optimizer_impl="auto"`` is the optimizer implementation torch picks
    there (foreach on cuda, the for-loop on cpu); ``context`` asks for the KV cache of a decoder."""

    kind: str = "train"
    optimizer: str | Callable[..., torch.optim.Optimizer] = "adamw"
    optimizer_impl: str = "auto"  # auto | foreach | fused | forloop
    amp: str | None = None
    amp_device: str = "cuda"
    weights_dtype: str | None = None
    checkpoint: Sequence[str] = ()
    batch: int | None = None
    gpu_memory: str | None = None
    shard: str | None = None
    context: int | None = None
    loss_fn: Callable[[Any], torch.Tensor] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, kind: str, **values: Any) -> "MemoryOptions":
        if kind not in KINDS:
            raise AuditError(f"unknown memory analysis {kind!r}; use train or inference")
        if values.get("amp") is not None and values["amp"] not in AMP_DTYPES:
            raise AuditError(f"unknown --amp {values['amp']!r}; use one of {', '.join(AMP_DTYPES)}")
        if values.get("batch") is not None and int(values["batch"]) < 1:
            raise AuditError(f"--batch must be at least 1, got {values['batch']}")
        checkpoint = values.pop("checkpoint", None) or ()
        if isinstance(checkpoint, str):
            checkpoint = [p.strip() for p in checkpoint.split(",") if p.strip()]
        known = {k: v for k, v in values.items() if v is not None}
        options = cls(kind=kind, checkpoint=tuple(checkpoint), **known)
        if kind == "train":  # an unknown implementation, or one the optimizer lacks: said before any tracing
            resolve_impl(options.optimizer, options.optimizer_impl, options.amp_device)
        return options


def example_inputs(model: nn.Module, inputs: Any, input_shape: Any) -> tuple[tuple, dict]:
    """Meta copies of the example inputs (the same rules as the auditor's)."""
    from .step import _to_meta

    if inputs is not None:
        args, kwargs = normalize_inputs(inputs)
        return _to_meta(tuple(args)), _to_meta(dict(kwargs))
    if input_shape is not None:
        return tuple(spec.build(torch.device("meta")) for spec in as_specs(input_shape)), {}
    raise InputSpecError(f"no example input for {type(model).__name__}: the memory analysis needs inputs or input_shape")


def analyze(model: nn.Module, inputs: Any, input_shape: Any, options: MemoryOptions, mode: str = "train") -> tuple[dict[str, Any], StepMemory]:
    """Run the analysis; returns (``summary.memory`` dict, the step) — bytes throughout."""
    args, kwargs = example_inputs(model, inputs, input_shape)
    if options.batch is not None:
        args, kwargs = with_batch(args, options.batch), with_batch(kwargs, options.batch)
    batch = batch_of((args, kwargs))

    def run(a: tuple, k: dict, checkpoint: Sequence[str] = ()) -> StepMemory:
        return measure(model, a, k, options, mode, checkpoint)

    step = run(args, kwargs)
    data = step.to_dict()
    data["batch"] = batch
    data["flops"] = dict(step.flops)
    if step.flops_uncounted:  # never a silent zero: a fused optimizer step has no FLOP formula
        data["flops_uncounted"] = {phase: list(names) for phase, names in step.flops_uncounted.items()}
    if options.checkpoint:
        data["checkpoint"] = _checkpoint_what_if(step, run(args, kwargs, options.checkpoint), options.checkpoint)
    if options.gpu_memory is not None:
        capacity, label = gpu_capacity(options.gpu_memory)
        fit = fit_summary(step.peak_bytes, capacity, label)
        if batch:
            fit.update(largest_batch(lambda b: run(with_batch(args, b), with_batch(kwargs, b)).peak_bytes, batch, capacity))
            fit["batch_scaling"] = "dimension 0 of every input tensor; affine fit at batch b and 2b, then measured"
        data["fit"] = fit
    if options.shard is not None:
        spec = ShardSpec.parse(options.shard)
        total_params, largest = _param_counts(model)
        largest_bytes = largest * max((p.element_size() for p in model.parameters()), default=4)
        states = sharded_states(spec, step.params_bytes, step.gradients_bytes, step.optimizer_bytes,
                                largest_bytes if spec.strategy in ("zero3", "fsdp", "fsdp-hybrid") else 0)
        model_states = step.params_bytes + step.gradients_bytes + step.optimizer_bytes
        data["shard"] = {"strategy": spec.strategy, "ranks": spec.ranks, "per_node": spec.per_node, **states,
                         "peak_bytes_per_rank": step.peak_bytes - model_states + states["model_states_bytes"],
                         "deepspeed_estimate_bytes": deepspeed_figure(spec, total_params, largest)}
    if options.context is not None:
        config = getattr(model, "config", None)
        if config is None:
            raise AuditError("--context needs a transformers decoder (a model with a .config)")
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(options.weights_dtype or options.amp or "", torch.float32)
        data["kv_cache"] = kv_cache_bytes(config, options.context, batch or 1, dtype)
    return data, step


def measure(model: nn.Module, args: tuple, kwargs: dict, options: MemoryOptions, mode: str = "train",
            checkpoint: Sequence[str] = ()) -> StepMemory:
    """One step with ``options``' kind, optimizer, autocast, weights dtype and loss: the step every figure
    of the analysis comes from (the symbolic fit measures its other shapes with it too)."""
    return measure_step(model, args, kwargs, kind=options.kind, optimizer=options.optimizer,
                        optimizer_impl=options.optimizer_impl, mode=mode, amp=options.amp,
                        amp_device=options.amp_device, weights_dtype=options.weights_dtype,
                        checkpoint=checkpoint, loss_fn=options.loss_fn,
                        blas_workspace=_named_workspace(options.gpu_memory))


def _named_workspace(gpu: str | None) -> int | None:
    """The cuBLAS workspace of the GPU ``--gpu-memory`` names (a bare size names none: the default)."""
    default = blas_workspace_of(gpu)
    return None if default is None else workspace_bytes(default)


def _checkpoint_what_if(plain: StepMemory, checkpointed: StepMemory, patterns: Sequence[str]) -> dict[str, Any]:
    recompute = checkpointed.flops.get("backward", 0) - plain.flops.get("backward", 0)
    return {"patterns": list(patterns), "modules": list(checkpointed.checkpointed),
            "peak_bytes": checkpointed.peak_bytes, "saved_bytes": plain.peak_bytes - checkpointed.peak_bytes,
            "activations_bytes": checkpointed.activations_bytes, "recompute_flops": recompute}


def _param_counts(model: nn.Module) -> tuple[int, int]:
    """(unique parameters, the largest single module's own parameters) as DeepSpeed counts them."""
    total = sum({id(p): p.numel() for p in model.parameters()}.values())
    largest = max((sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules()), default=0)
    return total, largest


def annotate_layers(report_layers: list[Any], step: StepMemory) -> None:
    """``layers[].memory``: saved-activation bytes and the most bytes alive while the layer ran."""
    for layer in report_layers:
        stats = step.layers.get(layer.name)
        if stats is not None:
            layer.attrs["memory"] = {"saved_bytes": stats.saved_bytes, "live_bytes": stats.live_bytes}


