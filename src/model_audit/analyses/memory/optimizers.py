"""Optimizers by name, the implementation their step runs, and the state bytes they keep per parameter.

The step itself is run for real on meta parameters (torch's own optimizers work there), so the
state bytes the analysis reports are the real state tensors' ``nbytes``; the per-parameter
factors below are only used where there is no model to run (``sharding.py``).

torch has three implementations of most optimizer steps, and they allocate differently at the
step: the per-parameter **for-loop** makes one parameter's temporaries at a time, **foreach**
(``_foreach_*`` ops over lists) makes a temporary the size of *every* parameter at once (Adam's
``exp_avg_sq.sqrt()`` list), **fused** runs one in-place kernel and makes none. When neither
``foreach`` nor ``fused`` is given, torch picks foreach for parameters on a device with foreach
kernels (CUDA) and the for-loop elsewhere (CPU, and meta: left alone, the step on meta would run
the for-loop whatever device it is planned for). So the implementation is chosen here, from the
device the step is planned for, and passed to the optimizer explicitly.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.optim.optimizer as torch_optimizer
from torch.utils._python_dispatch import TorchDispatchMode

from ...errors import AuditError
from ...ir import ops

# name -> (class, arguments, optimizer-state tensors of the parameter's size kept per parameter)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any], int]] = {
    "sgd": (torch.optim.SGD, {"lr": 0.01}, 0),
    "sgd-momentum": (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}, 1),
    "adam": (torch.optim.Adam, {"lr": 1e-3}, 2),
    "adamw": (torch.optim.AdamW, {"lr": 1e-3}, 2),
    "rmsprop": (torch.optim.RMSprop, {"lr": 1e-3}, 1),
    "adagrad": (torch.optim.Adagrad, {"lr": 1e-2}, 1),
}

IMPLEMENTATIONS = ("auto", "foreach", "fused", "forloop")

Factory = Callable[[Iterable[torch.Tensor]], torch.optim.Optimizer]


def _key(name: str) -> str:
    key = str(name).lower().replace("_", "-")
    if key not in OPTIMIZERS:
        raise AuditError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    return key


def _device_types(getter: str, fallback: tuple[str, ...]) -> list[str]:
    """torch's own list of device types with foreach / fused optimizer kernels (private helpers)."""
    found = getattr(torch_optimizer, getter, None)
    return list(found()) if callable(found) else list(fallback)


def torch_default(device: str) -> str:
    """What torch runs when neither ``foreach`` nor ``fused`` is given, for parameters on ``device``
    (``torch.optim.optimizer._default_to_fused_or_foreach``): foreach on CUDA, the for-loop on CPU."""
    kind = torch.device(device).type
    return "foreach" if kind in _device_types("_get_foreach_kernels_supported_devices", ("cuda",)) else "forloop"


def resolve_impl(optimizer: str | Factory, impl: str, device: str) -> str | None:
    """The implementation the step runs on ``device``: ``impl``, or torch's default there for "auto".

    None for an optimizer factory: it sets ``foreach=``/``fused=`` itself (torch's default on ``device``
    applies where it left them unset), so only "auto" is accepted with one.
    """
    if impl not in IMPLEMENTATIONS:
        raise AuditError(f"unknown optimizer implementation {impl!r}; use one of {', '.join(IMPLEMENTATIONS)}")
    if callable(optimizer):
        if impl != "auto":
            raise AuditError(f"optimizer_impl={impl!r} applies to a named optimizer; an optimizer factory sets "
                             "foreach= or fused= itself")
        return None
    cls = OPTIMIZERS[_key(optimizer)][0]
    takes = inspect.signature(cls).parameters
    chosen = torch_default(device) if impl == "auto" else impl
    if impl == "auto" and chosen not in takes:
        chosen = "forloop"  # torch's default falls back to the for-loop where there is no foreach
    if chosen != "forloop" and chosen not in takes:
        raise AuditError(f"torch.optim.{cls.__name__} has no {chosen} implementation (it takes no {chosen}= "
                         f"argument); use {' or '.join(i for i in ('foreach', 'forloop') if i != chosen)}")
    kind = torch.device(device).type
    if chosen == "fused" and kind not in _device_types("_get_fused_kernels_supported_devices", ("cuda", "cpu")):
        raise AuditError(f"torch has no fused optimizer kernels for {kind}; use foreach or forloop")
    return chosen


def make_optimizer(optimizer: str | Factory, params: list[torch.Tensor], impl: str | None = "forloop",
                   device: str = "cpu") -> tuple[torch.optim.Optimizer, str]:
    """(optimizer over ``params``, the implementation its step runs).

    ``optimizer`` is a name above (run with ``impl`` from :func:`resolve_impl`) or a factory
    ``f(params) -> Optimizer`` (``impl`` None: its groups that leave ``foreach`` and ``fused`` unset get
    torch's default on ``device``, as they would on parameters that live there).
    """
    if not callable(optimizer):
        cls, arguments, _ = OPTIMIZERS[_key(optimizer)]
        chosen = impl or "forloop"
        extra = {"fused": True} if chosen == "fused" else {"foreach": chosen == "foreach"}
        return cls(params, **arguments, **extra), chosen
    opt = optimizer(params)
    for group in opt.param_groups:
        if "foreach" in group and group.get("foreach") is None and not group.get("fused"):
            group["foreach"] = torch_default(device) == "foreach"
    return opt, implementation_of(opt)


def implementation_of(optimizer: torch.optim.Optimizer) -> str:
    """"fused", "foreach" or "forloop", from the first parameter group's flags."""
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    return "fused" if group.get("fused") else "foreach" if group.get("foreach") else "forloop"


def state_copies(name: str) -> int:
    """Parameter-sized state tensors ``name`` keeps per parameter (0 for SGD, 2 for Adam)."""
    return OPTIMIZERS[_key(name)][2]


def state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def warm_up(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
    """Create the optimizer's state as a first step would (fake gradients), then drop the gradients."""
    for p in params:
        p.grad = torch.empty_like(p)
    with stepping_on_meta(optimizer):
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


class _FusedStepsOnMeta(TorchDispatchMode):
    """The fused optimizer steps torch has no meta kernel for, run on meta as what they are: an in-place
    update of the lists they are given, returning nothing and allocating nothing."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        name = getattr(getattr(func, "overloadpacket", func), "__name__", "")
        if (name in ops.FUSED_OPTIMIZER_STEPS and args and args[0] and all(t.is_meta for t in args[0])
                and not torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), "Meta")):
            if any(len(a) != len(args[0]) for a in args[1:3] if isinstance(a, (list, tuple)) and a):
                raise RuntimeError(f"{name}: tensor lists of different lengths")
            return None
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def stepping_on_meta(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Let a ``fused=True`` optimizer step on meta parameters: torch refuses fused on devices outside its
    list (meta is not on it) and has no meta kernel for ``_fused_sgd_``/``_fused_adagrad_``. Nothing
    changes for the other implementations; torch's list is restored afterwards."""
    if implementation_of(optimizer) != "fused":
        yield
        return
    getter = "_get_fused_kernels_supported_devices"
    original = getattr(torch_optimizer, getter, None)
    if original is not None:
        setattr(torch_optimizer, getter, lambda: [*original(), "meta"])
    try:
        with _FusedStepsOnMeta():
            yield
    finally:
        if original is not None:
            setattr(torch_optimizer, getter, original)


def describe(optimizer: Any) -> str:
    return optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", type(optimizer).__name__)
