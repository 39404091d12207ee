"""Which layer each op of a plain counting run belongs to: the layer of the op at the same position
in a run the tracer attributed.

A plain run (the model's own forward, no tracer: a third to a half cheaper) knows its ops, not
their layers. When its op sequence is a traced run's, op for op, each op takes the traced op's
layer. Sequences may differ in free views and copies alone (at B = 1 a matmul's reshapes are views,
at B = 2 copies): the tracers never make rows of those, so the other ops still pair up. Anything
else (an LSTM's op count grows with T; a row that exists at one size only) is not attributable:
:class:`~.sizes.NotReplayable`, and the caller traces the run.
"""
from __future__ import annotations

from typing import Any, Sequence

from ...ir import ops
from ..costs import has_formula, op_cost
from .evaluate import Costs, Records
from .sizes import NotReplayable


_STRUCTURAL: dict[int, tuple[Any, bool]] = {}  # id(op) -> (op, structural): an op hashes in Python


def _is_structural(func: Any) -> bool:
    known = _STRUCTURAL.get(id(func))
    if known is None:
        packet = getattr(func, "overloadpacket", func)
        name = getattr(packet, "__name__", "")
        structural = (has_formula(func) or (name not in ops.ATEN_PASS_THROUGH
                                            and name.rstrip("_") not in ops.ATEN_PASS_THROUGH))
        known = _STRUCTURAL[id(func)] = (func, structural)
    return known[1]


def _structural(records: Records) -> Records:
    """The ops that can make or cost a layer: all but free views and copies (``ops.ATEN_PASS_THROUGH``:
    the tracers pass their producer through, they never become rows)."""
    return [r for r in records if _is_structural(r[1])]


def attributed(reference: Records, records: Records) -> Records:
    """A plain run's ops with the layers of the traced run ``reference``, op by op: the op sequences
    must be identical (the same ops in the same order), else the run is not comparable. Failing
    that, they may differ in free views and copies alone (at B = 1 a matmul's reshapes are views,
    at B = 2 copies): the other ops are kept, which is all the sizes and costs read."""
    if len(records) == len(reference) and all(a[1] is b[1] for a, b in zip(reference, records)):
        return [(ref[0], *rest) for ref, (_, *rest) in zip(reference, records)]
    reference, records = _structural(reference), _structural(records)
    if len(records) != len(reference) or any(a[1] is not b[1] for a, b in zip(reference, records)):
        raise NotReplayable("the ops differ between sizes")
    return [(ref[0], *rest) for ref, (_, *rest) in zip(reference, records)]


def layer_costs(records: Records, layers: Sequence[str]) -> Costs:
    """Per-layer (macs, flops) of a run's records (``layers``: every layer, zero when it has no op);
    the costs a plain run did not compute are computed here."""
    costs = {name: [0, 0] for name in layers}
    for layer, func, args, kwargs, out, cost in records:
        if layer is None:
            continue
        if cost is None:
            cost = op_cost(func, args, kwargs, out)
        if cost is not None:
            row = costs.get(layer)
            if row is None:
                raise NotReplayable(f"layer {layer} is not in the concrete audit")
            row[0] += cost.macs
            row[1] += cost.flops
    return {name: (row[0], row[1]) for name, row in costs.items()}
