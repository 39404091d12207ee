"""One training step (forward, backward, optimizer step) or one inference forward, run on meta.

The model's parameters and buffers are swapped for meta stand-ins (``trace/placement.py``), a real
``torch.optim`` optimizer is built on them (foreach, fused or the for-loop: ``optimizers.py``) and
warmed up once (so its state exists, as at step 2 of a real run), and the step runs under a
``StorageTracker``: every storage an op creates is counted while it lives, tensors saved for backward are marked by ``saved_tensors_hooks``, and the
live total's peak and the phase it falls in are recorded. Nothing is materialized; the user's
model is restored exactly (mode, parameters, buffers, no hooks, no ``.grad``).
"""
from __future__ import annotations

import contextlib
import fnmatch
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as torch_checkpoint

from ...errors import AuditError
from ...trace.placement import placed_on, preserved_state
from ...trace.shapes import iter_tensors
from .amp import autocast_on_meta
from .full_layer import cpu_full_layer
from .kernels import cuda_dropout, fused_attention, onednn_lstm
from .runtime import blas_workspaces, workspace_bytes
from .optimizers import describe, make_optimizer, resolve_impl, state_tensors, stepping_on_meta, warm_up
from .timeline import downsample
from .tracker import LayerMemory, StorageTracker

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
WEIGHT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CATEGORIES = ("params", "gradients", "optimizer", "buffers", "inputs", "activations", "temporaries", "workspaces")


@dataclass
class StepMemory:
    """The memory of one step, in bytes. ``at_peak`` is the breakdown of ``peak_bytes`` by category."""

    kind: str  # "train" or "inference"
    optimizer: str | None
    optimizer_impl: str | None  # the implementation the step ran: foreach, fused or forloop (None: inference)
    amp: str | None
    weights_dtype: str | None
    params_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    buffers_bytes: int
    inputs_bytes: int
    activations_bytes: int  # train: saved for backward at the end of forward; inference: transient at the peak
    peak_bytes: int
    peak_phase: str
    at_peak: dict[str, int]
    top_layers: list[tuple[str, int]]  # the layers whose saved activations hold most at the peak
    layers: dict[str, LayerMemory]
    flops: dict[str, int]  # FLOPs per phase (forward, backward, optimizer): the recompute cost of checkpoints
    flops_uncounted: dict[str, list[str]] = field(default_factory=dict)  # phase -> ops without a FLOP formula
    checkpointed: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # live bytes over the step (timeline.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "optimizer": self.optimizer,
            "optimizer_impl": self.optimizer_impl,
            "amp": self.amp,
            "weights_dtype": self.weights_dtype,
            "params_bytes": self.params_bytes,
            "gradients_bytes": self.gradients_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "buffers_bytes": self.buffers_bytes,
            "inputs_bytes": self.inputs_bytes,
            "activations_bytes": self.activations_bytes,
            "peak_bytes": self.peak_bytes,
            "peak_phase": self.peak_phase,
            "at_peak": dict(self.at_peak),
            "top_layers": [{"name": n, "bytes": b} for n, b in self.top_layers],
            "timeline": [dict(point) for point in self.timeline],
        }


def measure_step(model: nn.Module, args: tuple, kwargs: dict, *, kind: str = "train",
                 optimizer: str | Callable[..., torch.optim.Optimizer] = "adamw", optimizer_impl: str = "auto",
                 mode: str = "train",
                 amp: str | None = None, amp_device: str = "cuda", weights_dtype: str | None = None,
                 checkpoint: Sequence[str] = (), loss_fn: Callable[[Any], torch.Tensor] | None = None,
                 blas_workspace: int | None = None) -> StepMemory:
    """Measure one step of ``model`` on meta copies of ``args``/``kwargs`` (see the module docstring).

    ``amp_device`` is the device the step is planned for: ``amp`` ("bf16"/"fp16") runs forward under
    ``torch.autocast(amp_device)``'s policy, and ``optimizer_impl`` "auto" is the optimizer implementation
    torch picks there (foreach on cuda, the for-loop on cpu; see ``optimizers.py``); ``weights_dtype``
    stores floating parameters and buffers in that dtype; ``checkpoint`` wraps the modules whose
    class name or qualified name matches a pattern in ``torch.utils.checkpoint``. Planned for CUDA, the
    step also holds a cuBLAS workspace of ``blas_workspace`` bytes per thread that multiplies matrices
    (default: ``runtime.workspace_bytes`` for this machine's GPU, 32 MiB where there is none).
    """
    if kind not in ("train", "inference"):
        raise AuditError(f"unknown memory analysis {kind!r}; use train or inference")
    if amp is not None and amp not in AMP_DTYPES:
        raise AuditError(f"unknown --amp {amp!r}; use one of {', '.join(AMP_DTYPES)}")
    if weights_dtype is not None and weights_dtype not in WEIGHT_DTYPES:
        raise AuditError(f"unknown weights dtype {weights_dtype!r}; use one of {', '.join(WEIGHT_DTYPES)}")
    impl = resolve_impl(optimizer, optimizer_impl, amp_device) if kind == "train" else None
    meta = torch.device("meta")
    with preserved_state(model, mode == "train"), placed_on(model, meta):
        if weights_dtype is not None:
            _cast_weights(model, WEIGHT_DTYPES[weights_dtype])
        args, kwargs = _to_meta(args), _to_meta(kwargs)
        with _checkpointed(model, checkpoint) as wrapped, _scopes(model) as tracker, fused_attention(), \
                cpu_full_layer(amp_device), onednn_lstm(amp_device), cuda_dropout(amp_device):
            try:
                return _run(model, args, kwargs, tracker, kind, optimizer, impl, amp, amp_device, weights_dtype,
                            loss_fn, wrapped, blas_workspace)
            except (RuntimeError, NotImplementedError, TypeError, ValueError) as error:
                raise AuditError(_meta_failure(model, error)) from None


def _run(model: nn.Module, args: tuple, kwargs: dict, tracker: StorageTracker, kind: str, optimizer: Any,
         impl: str | None, amp: str | None, amp_device: str, weights_dtype: str | None, loss_fn: Callable | None,
         wrapped: list[str], blas_workspace: int | None) -> StepMemory:
    params = _unique(p for p in model.parameters())
    trainable = [p for p in params if p.requires_grad]
    opt = None
    if kind == "train":
        if not trainable:
            raise AuditError("the model has no trainable parameters: there is no training step to measure")
        opt, impl = make_optimizer(optimizer, trainable, impl, amp_device)
        warm_up(opt, trainable)
    for p in params:
        tracker.track(p, "params")
    for b in _unique(model.buffers()):
        tracker.track(b, "buffers")
    for s in state_tensors(opt) if opt is not None else ():
        tracker.track(s, "optimizer")
    for t in iter_tensors((args, kwargs)):
        tracker.track(t, "inputs")
    tracker.tick()
    autocast = autocast_on_meta(amp_device, AMP_DTYPES[amp] if amp else None)
    forward_end = tracker.clock
    with tracker:
        if kind == "inference":
            tracker.phase = "forward"
            with torch.no_grad(), autocast:
                output = model(*args, **kwargs)
            tracker.tick()
            del output
        else:
            with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(tracker.pack, _unpack):
                tracker.phase = "forward"
                with autocast:
                    output = model(*args, **kwargs)
                loss = loss_fn(output) if loss_fn is not None else _default_loss(output)
                tracker.tick()
                forward_end = tracker.clock
                tracker.phase = "backward"
                loss.backward()
                tracker.tick()
            for p in trainable:
                if p.grad is not None:
                    block = tracker.track(p.grad, "gradients")
                    if block is not None:
                        block.category = "gradients"
            tracker.phase = "optimizer"
            with stepping_on_meta(opt):
                opt.step()
            tracker.tick()
            del output, loss
    if amp_device.startswith("cuda"):
        per_thread = workspace_bytes() if blas_workspace is None else blas_workspace
        resident = blas_workspaces(tracker.matmul_phases, per_thread)
        if resident:
            tracker.add_resident(resident, "workspaces")
    grads = sum(p.grad.nbytes for p in trainable if p.grad is not None) if opt is not None else 0
    at_peak = tracker.breakdown_at(tracker.peak_clock)
    if kind == "train":
        activations = sum(b.nbytes for b in tracker.blocks if b.saved_by is not None and b.alive_at(forward_end))
    else:
        activations = at_peak.get("temporaries", 0)
    return StepMemory(
        kind=kind, optimizer=describe(optimizer) if kind == "train" else None,
        optimizer_impl=impl if kind == "train" else None, amp=amp, weights_dtype=weights_dtype,
        params_bytes=sum(p.nbytes for p in params), gradients_bytes=grads,
        optimizer_bytes=sum(s.nbytes for s in state_tensors(opt)) if opt is not None else 0,
        buffers_bytes=sum(b.nbytes for b in _unique(model.buffers())),
        inputs_bytes=sum(t.nbytes for t in _unique(iter_tensors((args, kwargs)))),
        activations_bytes=activations, peak_bytes=tracker.peak, peak_phase=tracker.peak_phase,
        at_peak={c: at_peak[c] for c in CATEGORIES if c in at_peak},
        top_layers=tracker.top_layers_at(tracker.peak_clock), layers=dict(tracker.layers),
        flops=dict(tracker.flops), checkpointed=wrapped,
        flops_uncounted={phase: sorted(names) for phase, names in tracker.uncounted.items()},
        timeline=downsample(tracker.samples, tracker.peak_clock - 1))


def _meta_failure(model: nn.Module, error: Exception) -> str:
    """One line saying why the step could not run on meta, with the way out for the common case."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = ""
    if "item()" in text or "data-dependent" in text.lower():
        hint = ("; the model reads a tensor's value, which meta tensors do not have (transformers' mask "
                "checks do: pass an attention_mask, or none with use_cache left on)")
    return f"memory analysis: {type(model).__name__} cannot run its step on meta tensors: {text}{hint}"


def _unpack(t: torch.Tensor) -> torch.Tensor:
    return t


def _default_loss(output: Any) -> torch.Tensor:
    """The sum of every floating output that requires grad: the probes' and ``--backward``'s loss."""
    floats = [t for t in iter_tensors(output) if t.is_floating_point() and t.requires_grad]
    if not floats:
        raise AuditError("the model's output has no floating tensor that requires grad: no backward to measure")
    return functools.reduce(lambda a, b: a + b, (t.sum() for t in floats))


def _unique(tensors: Any) -> list[torch.Tensor]:
    seen: set[int] = set()
    out = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _to_meta(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return torch.empty_like(obj, device="meta").requires_grad_(obj.requires_grad)
    if isinstance(obj, tuple):
        return tuple(_to_meta(o) for o in obj)
    if isinstance(obj, list):
        return [_to_meta(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _to_meta(v) for k, v in obj.items()}
    return obj


def _cast_weights(model: nn.Module, dtype: torch.dtype) -> None:
    """Give the (already swapped-in) meta stand-ins ``dtype``, tied tensors staying tied;
    ``placed_on`` restores the originals afterwards."""
    memo: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for store in (module._parameters, module._buffers):
            for name, t in list(store.items()):
                if t is None or not t.is_floating_point():
                    continue
                new = memo.get(id(t))
                if new is None:
                    new = torch.empty_like(t, dtype=dtype)
                    if isinstance(t, nn.Parameter):
                        new = nn.Parameter(new, requires_grad=t.requires_grad)
                    memo[id(t)] = new
                store[name] = new


@contextlib.contextmanager
def _scopes(model: nn.Module) -> Iterator[StorageTracker]:
    """A tracker whose ``scope`` stack follows module forwards (forward hooks, removed afterwards)."""
    tracker = StorageTracker()
    handles = []

    def push(name: str) -> Callable:
        def hook(module: nn.Module, inputs: Any) -> None:
            tracker.scope.append(name)
        return hook

    def pop(module: nn.Module, inputs: Any, output: Any) -> None:
        if tracker.scope:
            tracker.scope.pop()

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(push(name or "(model)")))
        handles.append(module.register_forward_hook(pop))
    try:
        yield tracker
    finally:
        for handle in handles:
            handle.remove()


def _matches(name: str, module: nn.Module, patterns: Sequence[str]) -> bool:
    return any(type(module).__name__ == p or fnmatch.fnmatchcase(name, p) for p in patterns)


@contextlib.contextmanager
def _checkpointed(model: nn.Module, patterns: Sequence[str]) -> Iterator[list[str]]:
    """Wrap matching modules' forwards in non-reentrant ``torch.utils.checkpoint`` for the step only."""
    wrapped: list[str] = []
    if not patterns:
        yield wrapped
        return
    modules = []
    for name, module in model.named_modules():
        if name and _matches(name, module, patterns) and not any(name.startswith(w + ".") for w in wrapped):
            original = module.forward
            module.forward = functools.partial(_checkpoint_call, original)
            modules.append(module)
            wrapped.append(name)
    if not wrapped:
        raise AuditError(f"--checkpoint {', '.join(patterns)} matches no module (give a class name or a "
                         "module-name pattern such as 'layer*.?' or 'transformer.h.*')")
    try:
        yield wrapped
    finally:
        for module in modules:
            del module.forward


def _checkpoint_call(forward: Callable, *args: Any, **kwargs: Any) -> Any:
    return torch_checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)
