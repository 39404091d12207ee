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

from typing import Sequence

from ...ir import ops
from ..costs import FORMULAS
from .evaluate import Costs, Records
from .sizes import NotReplayable


def _structural(records: Records) -> Records:
    """The ops that can make or cost a layer: all but free views and copies (``ops.ATEN_PASS_THROUGH``:
    the tracers pass their producer through, they never become rows)."""
    out = []
    for r in records:
        packet = getattr(r[1], "overloadpacket", r[1])
        name = getattr(packet, "__name__", "")
        if packet in FORMULAS or (name not in ops.ATEN_PASS_THROUGH and name.rstrip("_") not in ops.ATEN_PASS_THROUGH):
            out.append(r)
    return out


def attributed(reference: Records, records: Records) -> Records:
    """A plain run's ops with the layers of the traced run ``reference``, op by op: the op sequences
    must be identical (the same ops in the same order), else the run is not comparable. Failing
    that, they may differ in free views and copies alone (at B = 1 a matmul's reshapes are views,
    at B = 2 copies): the other ops are kept, which is all the sizes and costs read."""
    if len(records) == len(reference) and all(a[1] == b[1] for a, b in zip(reference, records)):
        return [(ref[0], *rest) for ref, (_, *rest) in zip(reference, records)]
    reference, records = _structural(reference), _structural(records)
    if len(records) != len(reference) or any(a[1] != b[1] for a, b in zip(reference, records)):
        raise NotReplayable("the ops differ between sizes")
    return [(ref[0], *rest) for ref, (_, *rest) in zip(reference, records)]


def layer_costs(records: Records, layers: Sequence[str]) -> Costs:
    """Per-layer (macs, flops) of a run's records (``layers``: every layer, zero when it has no op)."""
    costs = {name: [0, 0] for name in layers}
    for layer, _, _, _, _, cost in records:
        if layer is not None and cost is not None:
            row = costs.get(layer)
            if row is None:
                raise NotReplayable(f"layer {layer} is not in the concrete audit")
            row[0] += cost.macs
            row[1] += cost.flops
    return {name: (row[0], row[1]) for name, row in costs.items()}
