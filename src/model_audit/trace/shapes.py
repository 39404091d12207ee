"""Helpers to read shapes/dtypes out of arbitrary (nested) outputs."""
from __future__ import annotations

from typing import Any, Iterator

import torch


def iter_tensors(obj: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    """Tensors inside tuples, lists, dicts and dataclass-like model outputs (e.g. transformers')."""
    if depth > 6:
        return
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from iter_tensors(item, depth + 1)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_tensors(item, depth + 1)
    elif hasattr(obj, "to_tuple"):
        yield from iter_tensors(obj.to_tuple(), depth + 1)


def shapes_of(obj: Any) -> list[tuple[int, ...]]:
    return [tuple(int(s) for s in t.shape) for t in iter_tensors(obj)]


def dtype_of(obj: Any) -> str | None:
    for t in iter_tensors(obj):
        return str(t.dtype).replace("torch.", "")
    return None


def describe_shapes(obj: Any) -> str:
    shapes = shapes_of(obj)
    return ", ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes) or "(no tensors)"
