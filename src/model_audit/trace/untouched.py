"""Leave the user's model and the process as they were, whatever the model's own code writes.

``forward`` is user code: it registers buffers, fills rotary caches kept in plain attributes,
caches its input on a submodule, counts calls, swaps ``module.weight`` (old-style weight norm),
re-points RNN ``_flat_weights``, turns a LazyModule into its concrete class, draws random
numbers. Under ``torch.fx`` all of those writes are Proxies, on meta they are meta tensors. So
rather than undo each case, every module's state is snapshotted before a run and put back after:

- each module's ``__dict__`` (shallow: the same objects come back, by identity) and its class;
- one level of containers inside it, by content (``_parameters``, ``_buffers``, ``_modules``, hook
  dicts, ``_flat_weights``, plain lists/dicts/sets of the user's own), restored in place so every
  outside reference to those containers sees the original content again;
- the global random generators (torch CPU and every initialised CUDA device, Python's
  ``random``, numpy's when loaded) and torch's default dtype.

Tensors are restored by identity; their *values* are protected by :mod:`.placement`, which runs the
model on stand-ins (copies) of its buffers and tensor attributes, never on the user's tensors.
"""
from __future__ import annotations

import random
import sys
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.nn as nn

_CONTAINERS = (dict, list, set)


class ModuleSnapshot:
    """The shallow state of every module of a model, restorable in place."""

    def __init__(self, model: nn.Module) -> None:
        self.states: list[tuple[nn.Module, type, dict[str, Any], dict[str, Any]]] = []
        for module in model.modules():
            attrs = dict(module.__dict__)
            contents = {key: _copy(value) for key, value in attrs.items() if isinstance(value, _CONTAINERS)}
            self.states.append((module, type(module), attrs, contents))

    def restore(self) -> None:
        for module, cls, attrs, contents in self.states:
            if type(module) is not cls:
                module.__class__ = cls  # a LazyModule became its cls_to_become
            current = module.__dict__
            for key in [k for k in current if k not in attrs]:
                del current[key]
            for key, value in attrs.items():
                if current.get(key, _MISSING) is not value:
                    current[key] = value
            for key, saved in contents.items():
                container = attrs[key]
                if saved or container:  # most hook dicts are empty before and after
                    _refill(container, saved)


_MISSING = object()


def _copy(container: Any) -> Any:
    if isinstance(container, dict):
        return list(container.items())
    return list(container)


def _refill(container: Any, saved: list) -> None:
    """Put ``saved`` back into ``container`` in place, only when something changed."""
    if isinstance(container, dict):
        items = list(container.items())
        if len(items) != len(saved) or any(a[0] != b[0] or a[1] is not b[1] for a, b in zip(items, saved)):
            container.clear()
            container.update(saved)
    elif isinstance(container, list):
        if len(container) != len(saved) or any(a is not b for a, b in zip(container, saved)):
            container[:] = saved
    elif isinstance(container, set):
        if container != set(saved):
            container.clear()
            container.update(saved)


class RandomState:
    """The process's global random generators and default dtype."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        self.python = random.getstate()
        numpy = sys.modules.get("numpy")
        self.numpy = numpy.random.get_state() if numpy is not None and hasattr(numpy, "random") else None
        self.dtype = torch.get_default_dtype()

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        random.setstate(self.python)
        if self.numpy is not None:
            sys.modules["numpy"].random.set_state(self.numpy)
        if torch.get_default_dtype() != self.dtype:
            torch.set_default_dtype(self.dtype)


@contextmanager
def untouched(model: nn.Module) -> Iterator[None]:
    """Run the block, then put every module's state and the global RNG/default dtype back."""
    modules = ModuleSnapshot(model)
    rng = RandomState()
    try:
        yield
    finally:
        modules.restore()
        rng.restore()


RECURSION_LIMIT = 4000  # about 600 nested module calls; Python's default 1000 stops near 200


@contextmanager
def recursion_room(limit: int = RECURSION_LIMIT) -> Iterator[None]:
    """Raise Python's recursion limit for the block (never lower it), then put it back.

    Each nested module call takes about six Python frames (``__call__``, ``_call_impl``, hooks,
    ``forward``), tracing adds more: a model nested 200 deep exhausts the default limit of 1000.
    """
    previous = sys.getrecursionlimit()
    if previous < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        if sys.getrecursionlimit() != previous:
            sys.setrecursionlimit(previous)
