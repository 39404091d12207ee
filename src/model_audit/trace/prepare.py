"""What to audit: the user's real model behind wrappers, lazily shaped modules materialized.

Real-world models arrive wrapped (``nn.DataParallel``, DDP, FSDP, ``torch.compile``'s
``OptimizedModule``): auditing the wrapper gives one opaque row, so we audit the module it wraps
(the wrapper adds no parameters and no arithmetic). LazyModules (``nn.LazyLinear``) have no
shapes until a first forward: we materialize them on a private deep copy with one CPU forward
on the example inputs (the user's model stays lazy). TorchScript modules cannot be traced or
hooked, so they are refused in one line that says what to audit instead.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn

from ..errors import AuditError, ModelExecutionError
from ..target.inputs import as_specs, move_inputs, normalize_inputs
from .tracing import first_line

# Wrappers whose ``.module`` is the real model (and that add no parameters of their own).  -> ir/ops.py
_WRAPPER_NAMES = {"DataParallel", "DistributedDataParallel", "FullyShardedDataParallel"}


def unwrap(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """The module inside DataParallel / DDP / FSDP / torch.compile wrappers (nested ones too)."""
    notes: list[str] = []
    while True:
        name = type(model).__name__
        inner = None
        if name in _WRAPPER_NAMES and isinstance(getattr(model, "module", None), nn.Module):
            inner = model.module
        elif name == "OptimizedModule" and isinstance(getattr(model, "_orig_mod", None), nn.Module):
            inner = model._orig_mod
        if inner is None:
            return model, notes
        notes.append(f"audited the {type(inner).__name__} inside its {name} wrapper")
        model = inner


def refuse_torchscript(model: nn.Module) -> None:
    if isinstance(model, torch.jit.ScriptModule):
        raise AuditError(
            f"{type(model).__name__} is a TorchScript module, which model-audit cannot trace or hook: "
            "audit the eager nn.Module it was scripted or traced from")


def has_lazy(model: nn.Module) -> bool:
    from torch.nn.modules.lazy import LazyModuleMixin

    return any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules())


def materialize_lazy(model: nn.Module, inputs: Any, input_shape: Any) -> nn.Module:
    """A deep copy of ``model`` whose LazyModules took their shapes from one CPU forward."""
    try:
        private = copy.deepcopy(model)
    except Exception as error:
        raise AuditError(f"{type(model).__name__} has uninitialized LazyModules and cannot be copied to "
                         f"materialize them ({first_line(error)}): run one forward pass before auditing") from None
    cpu = torch.device("cpu")
    if inputs is not None:
        args, kwargs = normalize_inputs(inputs)
        args, kwargs = move_inputs(args, cpu), move_inputs(kwargs, cpu)
    elif input_shape is not None:
        args, kwargs = tuple(spec.build(cpu) for spec in as_specs(input_shape)), {}
    else:
        return private  # the engine reports the missing input
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            private(*args, **kwargs)
        except Exception as error:
            raise ModelExecutionError(
                f"{type(model).__name__} has uninitialized LazyModules and its first forward, which "
                f"gives them their shapes, failed: {first_line(error)}") from None
    return private


def prepare(model: nn.Module, inputs: Any, input_shape: Any) -> tuple[nn.Module, list[str]]:
    """(the module to audit, notes saying what was done to get it); never modifies ``model``."""
    model, notes = unwrap(model)
    refuse_torchscript(model)
    if has_lazy(model):
        model = materialize_lazy(model, inputs, input_shape)
        notes.append("LazyModules were materialized on a private copy by one CPU forward on the example input")
    return model, notes
