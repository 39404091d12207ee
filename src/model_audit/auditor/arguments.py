"""The constant arguments of a functional call, by parameter name, for rules and analyses.

Rules must treat ``F.dropout(x, p=0.3)`` like ``nn.Dropout(0.3)`` and the receptive-field
analysis must read ``F.max_pool2d(x, 3, 2, 1)``'s geometry, so each functional layer keeps its
arguments normalized to keyword form. Tensors are replaced by :class:`TensorArg` (shape and
dtype only) so the IR never holds on to activations.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch.fx.operator_schemas import normalize_function


@dataclass(frozen=True)
class TensorArg:
    """A tensor argument as the IR records it: shape and dtype, no data."""

    shape: tuple[int, ...]
    dtype: str

    def __repr__(self) -> str:
        return f"Tensor{list(self.shape)}"


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorArg(tuple(value.shape), str(value.dtype).replace("torch.", ""))
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if isinstance(value, list) else tuple(_plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (torch.dtype, torch.device, torch.memory_format, torch.layout)):
        return str(value)
    return type(value).__name__


def function_arguments(target: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Arguments of a python-level call (``F.conv2d``, ``torch.sigmoid``, ``x.view``) by name."""
    if isinstance(target, str):  # fx call_method: args[0] is self
        named = {"self": args[0]} if args else {}
        named.update({f"arg{i}": v for i, v in enumerate(args[1:], 1)})
        named.update(kwargs)
        return {k: _plain(v) for k, v in named.items()}
    named: dict[str, Any] | None = None
    try:
        pair = normalize_function(target, tuple(args), dict(kwargs), normalize_to_only_use_kwargs=True,
                                  arg_types=tuple(type(a) for a in args),
                                  kwarg_types={k: type(v) for k, v in kwargs.items()})
        if pair is not None:
            named = dict(pair.kwargs)
    except Exception:  # signature not introspectable: fall back to positional names
        named = None
    if named is None:
        try:
            bound = inspect.signature(target).bind(*args, **kwargs)
            named = dict(bound.arguments)
        except (TypeError, ValueError):
            named = {f"arg{i}": v for i, v in enumerate(args)}
            named.update(kwargs)
    return {k: _plain(v) for k, v in named.items()}


def aten_arguments(func: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Arguments of an ATen op (what the hooks tracer sees) by schema name."""
    try:
        schema = list(func._schema.arguments)
    except AttributeError:
        schema = []
    named = {schema[i].name if i < len(schema) else f"arg{i}": v for i, v in enumerate(args)}
    named.update(kwargs)
    for argument in schema:  # defaults the caller left out (ceil_mode, dilation...)
        if argument.name not in named and argument.has_default_value():
            named[argument.name] = argument.default_value
    return {k: _plain(v) for k, v in named.items()}
