"""Names of functional layers: the module whose forward made the call, then the op (``h.0.attn.sdpa``).

fx names a call node after the op and a global counter (``scaled_dot_product_attention_1``), which
says neither where the call was made nor which block it belongs to; the scope does both, and makes
the names of repeated blocks line up (``h.0.attn.add`` ... ``h.11.attn.add``).
"""
from __future__ import annotations

from .ops import LAYER_NAME_SHORT as SHORT_NAMES  # op names too long for a row; ``type`` keeps the full name


def functional_name(scope: str, op: str, taken: dict[str, int]) -> str:
    """``scope.op``, then ``scope.op@1``, ``@2``... for later calls; ``taken`` counts names already used."""
    base = SHORT_NAMES.get(op, op)
    base = f"{scope}.{base}" if scope else base
    count = taken.get(base, 0)
    name = base if count == 0 else f"{base}@{count}"
    while name in taken:  # a module or parameter already has that name
        count += 1
        name = f"{base}@{count}"
    taken[base] = count + 1
    taken.setdefault(name, 1)
    return name
