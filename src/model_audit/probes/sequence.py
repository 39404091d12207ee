"""Recurrent models: total gradient norm at growing sequence lengths (backpropagation through time).

The same seeded batch shape is stretched along the time axis (``batch_first`` of the first
recurrent module: axis 1, else axis 0) to each length in turn; one forward/backward per length.
Growth = norm at the longest length / norm at the shortest. The suggested ``max_norm`` follows
Pascanu, Mikolov & Bengio (ICML 2013): about the average gradient norm seen (they advise half to
ten times it), rounded to one significant digit.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from ..trace.tracing import first_line
from .batches import BatchSource
from .stats import norm_of


def sequence_growth(model: nn.Module, source: BatchSource, axis: int, lengths: Sequence[int],
                    run: Callable[[tuple, dict], Any], loss: Callable[[Any], torch.Tensor],
                    device: torch.device) -> dict[str, Any]:
    """{"axis", "lengths", "grad_norms", "growth", "suggested_max_norm", "note"}; call inside ``isolated``."""
    params = [p for p in model.parameters() if p.requires_grad]
    norms: list[float] = []
    measured: list[int] = []
    note = None
    for length in lengths:
        for p in params:
            p.grad = None
        args, kwargs = source.batch(50_000 + length, device, seq=(axis, int(length)))
        try:
            loss(run(args, kwargs)).backward()
        except Exception as error:  # e.g. a fixed-length positional table: stop, say where
            note = f"stopped at sequence length {length}: {first_line(error)}"
            break
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            measured.append(int(length))
            norms.append(float(norm_of(grads)))
    for p in params:
        p.grad = None
    growth = norms[-1] / norms[0] if len(norms) >= 2 and norms[0] else None
    finite = [n for n in norms if n == n and n != float("inf")]
    suggested = float(f"{sum(finite) / len(finite):.1g}") if finite else None
    return {"axis": axis, "lengths": measured, "grad_norms": norms, "growth": growth,
            "suggested_max_norm": suggested, "note": note}
