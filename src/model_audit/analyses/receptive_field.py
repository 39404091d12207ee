"""Receptive fields: exact per-layer size, effective stride and start offset on any LayerGraph.

Per spatial axis, bottom-up (Araujo, Norris & Sim, Distill 2019), for a layer with kernel ``k``,
stride ``s``, left padding ``p`` and dilation ``d`` reading a tensor whose units have field size
``r``, jump ``j`` and start ``a``::

    r' = r + (k - 1)·d·j        j' = j·s        a' = a - p·j

``start`` is the input index of the first element of output unit 0's window (negative under
padding); unit ``u``'s window is ``[start + u·stride, start + u·stride + size - 1]``. Arithmetic
is exact (``fractions.Fraction``): upsampling and transposed convolutions make strides fractional.

This module walks the graph and annotates it (``layer.attrs["receptive_field"]``) and measures the
final field against the input (:func:`final_field`). The pieces: ``rf_geometry`` (one layer's
window), ``rf_state`` (which tensor dims carry which input axes; merges; global mixing),
``rf_ops`` (one transfer function per op family). When unsure the analysis says ``None`` rather
than a wrong number. See docs/receptive-field.md.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

from ..ir.graph import Layer, LayerGraph
from ..ir.geometry import Axis, Key, Unsure  # noqa: F401  (re-exported)
from .rf_ops import _POINTWISE_KINDS, transfer
from .rf_state import GLOBAL, Field, Group, Mixed, Role, State, _num, _opaque, axes_of, render  # noqa: F401


# ---------------------------------------------------------------------------------------------
# the analysis


_IMAGE_PATH_KINDS = _POINTWISE_KINDS | {"padding", "merge"}  # kinds an image flows through to a convolution


def _spatial_inputs(graph: LayerGraph) -> set[str]:
    """Graph inputs a convolution/pooling/upsampling reaches through pointwise ops: those are images."""
    consumers = graph.consumers()
    kinds = {layer.name: layer.kind for layer in graph.layers}
    spatial = set()
    for name in graph.input_names:
        stack, seen = [name], {name}
        while stack:
            for nxt in consumers.get(stack.pop(), []):
                kind = kinds.get(nxt)
                if kind in ("conv", "pool", "upsample"):
                    spatial.add(name)
                    stack = []
                    break
                if kind in _IMAGE_PATH_KINDS and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return spatial


def _input_state(name: str, shape: Sequence[int]) -> Field:
    roles: list[Role] = [None, None]
    for dim in range(2, len(shape)):
        roles.append(Group((Axis((name, dim), Fraction(1), Fraction(1), Fraction(0)),), (shape[dim],)))
    return Field(tuple(roles[: len(shape)]))


def _producer_shape(layer: Layer | None, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    if layer is not None and layer.output_shapes:
        return tuple(layer.output_shapes[0])
    return shape


def _adapt(state: State, produced: tuple[int, ...] | None, read: tuple[int, ...] | None) -> State:
    """The hooks tracer hides view ops: re-shape a producer's state to the shape the consumer reads."""
    if not isinstance(state, Field) or produced is None or read is None or tuple(produced) == tuple(read):
        return state
    if len(state.roles) != len(produced):
        return state
    if len(produced) == len(read) and all(r is None or a == b for r, a, b in zip(state.roles, produced, read)):
        return state  # a hidden channel split/select (chunk, narrow on channels)
    if math.prod(produced) == math.prod(read) and produced and read and produced[0] == read[0]:
        rest = state.keys
        complete = len(read) == 2 and state.roles[0] is None
        return Field((state.roles[0],) + tuple(Mixed(rest, complete) for _ in read[1:]))
    return _opaque(state.keys, len(read))


def annotate_receptive_fields(graph: LayerGraph, *, strict: bool = False) -> None:
    """Set ``layer.attrs["receptive_field"]`` on every layer (and ``receptive_field_misaligned`` on merges).

    ``strict=True`` re-raises unexpected errors (tests); otherwise a layer the analysis cannot
    follow gets None, as does everything spatial downstream of it, and a note in the report says why.
    """
    states: dict[str, State] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    images = _spatial_inputs(graph)
    for name, shape in zip(graph.input_names, graph.input_shapes):
        shapes[name] = tuple(shape)
        states[name] = _input_state(name, shape) if name in images and len(shape) >= 3 else None
    by_name = graph.by_name()
    for layer in graph.layers:
        inputs, read = [], []
        read_shapes = {tuple(s) for s in layer.input_shapes}
        for i, src in enumerate(layer.inputs):
            state = states.get(src)
            produced = _producer_shape(by_name.get(src), shapes.get(src))
            if graph.tracer == "hooks":  # views are invisible there: compare with the shape actually read
                aligned = len(layer.inputs) == len(layer.input_shapes)
                if (i == 0 or aligned) and i < len(layer.input_shapes):
                    state = _adapt(state, produced, tuple(layer.input_shapes[i]))
                    produced = tuple(layer.input_shapes[i])
            elif layer.module is None and src in by_name and read_shapes and not any(
                    tuple(s) in read_shapes for s in by_name[src].output_shapes):
                continue  # fx links shape-only uses (x.size(0) feeding expand): no data flows
            inputs.append(state)
            read.append(produced)
        try:
            state, misaligned = transfer(layer, inputs, read)
        except Unsure:
            state, misaligned = _opaque(frozenset().union(*(s.keys for s in inputs if isinstance(s, Field))),
                                        len(layer.output_shapes[0]) if layer.output_shapes else 1), {}
        except Exception as error:
            if strict:
                raise
            # Never silent: the layer's field becomes unknown (null) and the report says why.
            graph.notes.append(f"receptive field: could not follow layer {layer.name} ({layer.type}): "
                               f"{type(error).__name__}: {error}; its field and those after it are unknown")
            state, misaligned = _opaque(frozenset(), 1), {}
        states[layer.name] = state
        if layer.output_shapes:
            shapes[layer.name] = tuple(layer.output_shapes[0])
        layer.attrs["receptive_field"] = render(state)
        if misaligned:
            layer.attrs["receptive_field_misaligned"] = {
                "axes": [f"{k[0]}[{k[1]}]" for k in sorted(misaligned)],
                "centre_offset": [_num(misaligned[k]) for k in sorted(misaligned)],
            }
    graph.receptive_field = final_field(graph, states)


# ---------------------------------------------------------------------------------------------
# coverage


def final_field(graph: LayerGraph, states: dict[str, State]) -> dict | None:
    """The last layer with an exact spatial field against the input it is counted in (coverage).

    ``coverage`` per axis: the fraction of the input pixels inside the central output unit's window.
    ``global``: some layer sees the whole input (e.g. global pooling); ``global_at``: the first layer
    after the final one that does. None when an output still carries positions the analysis lost
    track of (windowed attention...): then no layer's field can be called final.
    """
    for name in graph.output_names:
        state = states.get(name)
        if isinstance(state, Field) and state.spatial and axes_of(state) is None:
            return None
    shapes = {n: tuple(s) for n, s in zip(graph.input_names, graph.input_shapes)}
    for layer in graph.layers:
        if layer.output_shapes:
            shapes.setdefault(layer.name, tuple(layer.output_shapes[0]))
    is_global = any(layer.attrs.get("receptive_field") == GLOBAL for layer in graph.layers)
    for index in range(len(graph.layers) - 1, -1, -1):
        layer = graph.layers[index]
        state = states.get(layer.name)
        axes = axes_of(state)
        if not axes:
            continue
        lengths = _unit_counts(state)
        extents, coverage = [], []
        for axis in axes:
            source = shapes.get(axis.key[0])
            if source is None or axis.key[1] >= len(source):
                return None
            n = source[axis.key[1]]
            lo = axis.start + (lengths.get(axis.key, 1) - 1) // 2 * axis.stride  # the central unit
            first, last = max(math.ceil(lo), 0), min(math.floor(lo + axis.size - 1), n - 1)
            extents.append(n)
            coverage.append(round(max(0, last - first + 1) / n, 4))
        global_at = next((later.name for later in graph.layers[index + 1:]
                          if later.attrs.get("receptive_field") == GLOBAL), None)
        return {"layer": layer.name, "size": [_num(a.size) for a in axes], "stride": [_num(a.stride) for a in axes],
                "start": [_num(a.start) for a in axes], "input": extents, "coverage": coverage, "global": is_global,
                "global_at": global_at}
    return {"layer": None, "size": [], "stride": [], "start": [], "input": [], "coverage": [], "global": True,
            "global_at": None} if is_global else None


def _unit_counts(state: Field) -> dict[Key, int]:
    counts: dict[Key, int] = {a.key: 1 for a in state.fixed}
    for role in state.roles:
        if isinstance(role, Group):
            for a, n in zip(role.axes, role.lengths):
                counts[a.key] = n
    return counts
