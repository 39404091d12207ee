"""The constant arguments of a functional call, by parameter name, for rules and analyses.

Rules must treat ``F.dropout(x, p=0.3)`` like ``nn.Dropout(0.3)`` and the receptive-field
analysis must read ``F.max_pool2d(x, 3, 2, 1)``'s geometry, so each functional layer keeps its
arguments normalized to keyword form. Tensors are replaced by :class:`TensorArg` (shape and
dtype only) so the IR never holds on to activations.
"""
from __future__ import annotations

import inspect
import typing
from typing import Any

import torch

from ..ir import ops
from ..ir.graph import TensorArg
from torch.fx.operator_schemas import normalize_function




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


def _type_of(value: Any) -> Any:
    """The annotation fx's schema matcher needs: ``List[int]`` for [1, 1], not bare ``list``."""
    if isinstance(value, list) and value and all(type(v) is int for v in value):
        return typing.List[int]
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return typing.List[float]
    return type(value)


def function_arguments(target: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Arguments of a python-level call (``F.conv2d``, ``torch.sigmoid``, ``x.view``) by name."""
    if isinstance(target, str):  # fx call_method: args[0] is self
        named = {"self": args[0]} if args else {}
        named.update({f"arg{i}": v for i, v in enumerate(args[1:], 1)})
        named.update(kwargs)
        return {k: _plain(v) for k, v in named.items()}
    named: dict[str, Any] | None = None
    try:
        # Schemas say List[int] where callers pass tuples ((1, 1) padding): match on lists.
        as_list = [list(a) if isinstance(a, tuple) else a for a in args]
        kw_list = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        pair = normalize_function(target, tuple(as_list), kw_list, normalize_to_only_use_kwargs=True,
                                  arg_types=tuple(_type_of(a) for a in as_list),
                                  kwarg_types={k: _type_of(v) for k, v in kw_list.items()})
        if pair is not None:
            named = dict(pair.kwargs)
    except Exception:  # signature not introspectable: fall back to positional names
        named = None
    if named is None:
        try:
            bound = inspect.signature(target).bind(*args, **kwargs)
            named = dict(bound.arguments)
        except (TypeError, ValueError):
            order = ops.PARAMETER_ORDER.get(getattr(target, "__name__", ""), ())
            named = {order[i] if i < len(order) else f"arg{i}": v for i, v in enumerate(args)}
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
