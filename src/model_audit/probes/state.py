"""Leave the user's model exactly as it was: mode, parameters, gradients, buffers, RNG state.

The probe never runs the user's tensors: ``placed_on`` swaps every parameter for a stand-in
Parameter sharing its storage (so ``.grad`` lands on the stand-in, never on the user's parameter)
and every buffer for a copy (so a train-mode BatchNorm updates a copy of the running statistics).
What is left to restore is restored here in ``finally``: each module's ``training`` flag, the
BatchNorm ``momentum`` the variance probe changes, and the torch and CUDA random generators the
seeded probe reseeds.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn

from ..trace.placement import placed_on
from ..trace.untouched import untouched


@contextmanager
def rng_preserved(device: torch.device) -> Iterator[None]:
    """Save the CPU (and, on CUDA, every device's) generator state; restore it afterwards."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextmanager
def modes_preserved(model: nn.Module) -> Iterator[None]:
    """Restore every module's ``training`` flag and every BatchNorm's ``momentum``."""
    flags = [(m, m.training) for m in model.modules()]
    momenta = [(m, m.momentum) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
        for module, momentum in momenta:
            module.momentum = momentum


@contextmanager
def isolated(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Run probes on ``device`` against stand-ins of the model's tensors; everything restored on exit."""
    with untouched(model), rng_preserved(device), modes_preserved(model), placed_on(model, device):
        yield
