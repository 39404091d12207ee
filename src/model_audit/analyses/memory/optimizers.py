"""Optimizers by name, and the bytes of state each keeps per parameter (for sharding formulas).

The step itself is run for real on meta parameters (torch's own optimizers work there), so the
state bytes the analysis reports are the real state tensors' ``nbytes``; the per-parameter
factors below are only used where there is no model to run (``sharding.py``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from ...errors import AuditError

# name -> (factory, optimizer-state tensors of the parameter's size kept per parameter)
OPTIMIZERS: dict[str, tuple[Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer], int]] = {
    "sgd": (lambda ps: torch.optim.SGD(ps, lr=0.01), 0),
    "sgd-momentum": (lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), 1),
    "adam": (lambda ps: torch.optim.Adam(ps, lr=1e-3), 2),
    "adamw": (lambda ps: torch.optim.AdamW(ps, lr=1e-3), 2),
    "rmsprop": (lambda ps: torch.optim.RMSprop(ps, lr=1e-3), 1),
    "adagrad": (lambda ps: torch.optim.Adagrad(ps, lr=1e-2), 1),
}


def make_optimizer(name: str | Callable[..., torch.optim.Optimizer], params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """An optimizer over ``params`` from a name above or a factory ``f(params) -> Optimizer``."""
    if callable(name):
        return name(params)
    key = str(name).lower().replace("_", "-")
    if key not in OPTIMIZERS:
        raise AuditError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key][0](params)


def state_copies(name: str) -> int:
    """Parameter-sized state tensors ``name`` keeps per parameter (0 for SGD, 2 for Adam)."""
    key = str(name).lower().replace("_", "-")
    if key not in OPTIMIZERS:
        raise AuditError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key][1]


def state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def warm_up(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
    """Create the optimizer's state as a first step would (fake gradients), then drop the gradients."""
    for p in params:
        p.grad = torch.empty_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def describe(optimizer: Any) -> str:
    return optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", type(optimizer).__name__)
