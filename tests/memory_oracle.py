"""The independent oracle for memory: a real CPU training step measured by PyTorch's own allocator records.

Step 1 runs unmeasured (optimizer state appears), then step 2 — ``zero_grad(set_to_none=True)``,
forward, the default loss (sum of the outputs), backward, ``optimizer.step()`` — runs under
``torch.profiler.profile(profile_memory=True)``. The peak is the running total of the profiler's
allocation events (+ for allocations, - for frees, in time order) plus the bytes alive before the
step (parameters, buffers, optimizer state, inputs: unique storages).
"""
from __future__ import annotations

import contextlib
import gc
from typing import Any, Callable

import torch
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile

OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.01),
    "sgd-momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=1e-3),
    "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=1e-2),
}


def _tensors(obj: Any):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)
    elif hasattr(obj, "to_tuple"):
        yield from _tensors(obj.to_tuple())


def _storage_bytes(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


def _loss(output: Any) -> torch.Tensor:
    floats = [t for t in _tensors(output) if t.is_floating_point() and t.requires_grad]
    total = floats[0].sum()
    for t in floats[1:]:
        total = total + t.sum()
    return total


def allocator_peak(events_root: Any) -> tuple[int, int]:
    """(peak, final) of the running total of the profiler's allocation events (bytes)."""
    allocs = []
    stack = list(events_root)
    while stack:
        event = stack.pop()
        if event.typed[0] == _EventType.Allocation:
            allocs.append((event.start_time_ns, event.typed[1].alloc_size))
        stack.extend(event.children)
    allocs.sort()
    run = peak = 0
    for _, size in allocs:
        run += size
        peak = max(peak, run)
    return peak, run


@contextlib.contextmanager
def _quiet_heap():
    """No garbage collection inside a measured region: a cyclic collection there frees tensors that
    earlier tests left behind, and their negative allocation events would lower the running total."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def measured_step(model: torch.nn.Module, args: tuple, kwargs: dict | None = None,
                  optimizer: str | Callable[[list], torch.optim.Optimizer] = "adamw",
                  amp: str | None = None, inference: bool = False,
                  checkpointed: Callable[[], Any] | None = None) -> dict[str, int]:
    """Measure step 2 of a real training step (or one no_grad forward) on CPU; bytes. ``optimizer`` is a
    name above (torch's default implementation on CPU: the for-loop) or a factory ``f(params)``."""
    kwargs = kwargs or {}
    autocast = (torch.autocast("cpu", dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[amp])
                if amp else contextlib.nullcontext())
    params = [p for p in model.parameters() if p.requires_grad]
    if inference:
        baseline = _storage_bytes(list(model.parameters()) + list(model.buffers()) + list(_tensors((args, kwargs))))
        with _quiet_heap(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            with torch.no_grad(), autocast:
                output = model(*args, **kwargs)
            del output
        peak, _ = allocator_peak(prof.profiler.kineto_results.experimental_event_tree())
        return {"baseline": baseline, "peak": baseline + peak}
    opt = (optimizer if callable(optimizer) else OPTIMIZERS[optimizer])(params)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            output = model(*args, **kwargs)
        loss = _loss(output)
        loss.backward()
        opt.step()

    step()
    opt.zero_grad(set_to_none=True)
    state = [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    baseline = _storage_bytes(list(model.parameters()) + list(model.buffers()) + state + list(_tensors((args, kwargs))))
    with _quiet_heap(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    peak, _ = allocator_peak(prof.profiler.kineto_results.experimental_event_tree())
    return {
        "baseline": baseline,
        "peak": baseline + peak,
        "params": sum(p.nbytes for p in {id(p): p for p in model.parameters()}.values()),
        "gradients": sum(p.grad.nbytes for p in params if p.grad is not None),
        "optimizer": sum(t.nbytes for t in state),
        "buffers": sum(b.nbytes for b in model.buffers()),
    }
