"""Does it fit: headroom against a capacity, and the largest batch that fits.

The batch is scaled by resizing dimension 0 of every example input tensor (the batch dimension of
torchvision and transformers inputs). The peak is measured at batch ``b`` and ``2b``; memory is
affine in the batch (model states fixed, activations and temporaries per sample), so
``per_sample = (peak(2b) - peak(b)) / b`` and the candidate is
``floor((capacity - (peak(b) - b*per_sample)) / per_sample)``. The candidate is then measured
again and stepped down until its measured peak fits, so the answer is a measured figure, not an
extrapolation.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from ...trace.shapes import iter_tensors


def with_batch(obj: Any, batch: int) -> Any:
    """``obj`` with dimension 0 of every tensor set to ``batch`` (meta tensors: nothing allocated)."""
    if isinstance(obj, torch.Tensor):
        if obj.dim() == 0:
            return obj
        return torch.empty((batch, *obj.shape[1:]), dtype=obj.dtype, device="meta").requires_grad_(obj.requires_grad)
    if isinstance(obj, tuple):
        return tuple(with_batch(o, batch) for o in obj)
    if isinstance(obj, list):
        return [with_batch(o, batch) for o in obj]
    if isinstance(obj, dict):
        return {k: with_batch(v, batch) for k, v in obj.items()}
    return obj


def batch_of(obj: Any) -> int | None:
    for t in iter_tensors(obj):
        if t.dim() > 0:
            return int(t.shape[0])
    return None


def largest_batch(peak_at: Callable[[int], int], batch: int, capacity: int, limit: int = 1 << 20) -> dict[str, Any]:
    """The largest batch whose measured peak fits ``capacity``; ``peak_at(b)`` measures one step."""
    base = peak_at(batch)
    double = peak_at(2 * batch)
    per_sample = max((double - base) / batch, 1.0)
    fixed = base - batch * per_sample
    if capacity < fixed + per_sample:
        return {"largest_batch": 0, "per_sample_bytes": int(per_sample), "fixed_bytes": int(fixed), "peak_bytes": None}
    candidate = min(limit, int((capacity - fixed) // per_sample))
    peak = peak_at(candidate)
    steps = 0
    while peak > capacity and candidate > 1 and steps < 8:
        candidate = max(1, int(candidate * capacity / peak) - 1)
        peak = peak_at(candidate)
        steps += 1
    if peak > capacity:
        candidate, peak = 0, None
    return {"largest_batch": candidate, "per_sample_bytes": int(per_sample), "fixed_bytes": int(fixed),
            "peak_bytes": peak}


def fit_summary(peak: int, capacity: int, label: str) -> dict[str, Any]:
    return {"gpu": label, "capacity_bytes": capacity, "fits": peak <= capacity, "headroom_bytes": capacity - peak}
