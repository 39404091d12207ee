"""Embedding indices the user gave, checked even on meta (where tensors have no values).

On the meta device ``embedding(weight, ids)`` cannot see that an id is past the table, so an
audit would pass a model that fails on its first real batch. The user's own integer inputs do
have values: this guard remembers them by the meta stand-in they became (and through pure
reshapes, which keep the set of values), and checks their range at every embedding lookup.
Synthetic integer inputs (``--input 1,128:int64``) are zeros and always in range.
"""
from __future__ import annotations

from typing import Any

import torch

from ..ir import ops

_SAME_VALUES = ops.SAME_VALUES
_LOOKUPS = ops.EMBEDDING_LOOKUPS


class IndexGuard:
    """Maps meta stand-ins to (min, max) of the real integer tensors they replace."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.ranges: dict[int, tuple[int, int]] = {}
        self.keep: list[torch.Tensor] = []  # ids stay valid while the stand-ins live
        for real, stand_in in pairs:
            if real.device.type == "meta" or real.is_floating_point() or real.is_complex() or real.numel() == 0:
                continue
            if real.dtype == torch.bool:
                continue
            self.ranges[id(stand_in)] = (int(real.min()), int(real.max()))
            self.keep.append(stand_in)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def check(self, func: Any, args: tuple, out: Any) -> None:
        """Follow values through reshapes; raise IndexError for an id outside an embedding table."""
        name = getattr(getattr(func, "overloadpacket", func), "__name__", "")
        if name in _SAME_VALUES and args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            found = self.ranges.get(id(args[0]))
            if found is not None:
                self.ranges[id(out)] = found
                self.keep.append(out)
            return
        if name in _LOOKUPS and len(args) > 1 and isinstance(args[1], torch.Tensor):
            found = self.ranges.get(id(args[1]))
            rows = args[0].shape[0]
            if found is not None and (found[0] < 0 or found[1] >= rows):
                bad = found[1] if found[1] >= rows else found[0]
                raise IndexError(f"index {bad} is out of range for an embedding table of {rows} rows "
                                 f"(valid ids are 0..{rows - 1})")


def pair_tensors(original: Any, moved: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(user tensor, its stand-in) pairs from two structures of the same shape."""
    from .shapes import iter_tensors

    return list(zip(iter_tensors(original), iter_tensors(moved)))
