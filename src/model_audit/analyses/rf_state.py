"""Receptive-field state of a tensor: which dimensions enumerate which input axes, and how.

Per dimension a *role*: ``None`` (batch, channels, features), a :class:`Group` (an exact row-major
enumeration of input axes: ``H``, or ``H·W`` after a flatten) or :class:`Mixed` (holds positions in
an arrangement the analysis cannot follow). A tensor's state is ``None`` (no spatial content),
``GLOBAL`` or a :class:`Field`. Merges take the union of windows; mixing over every position is global.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Sequence

from ..ir.geometry import Axis, Key, Unsure

GLOBAL = "global"


@dataclass(frozen=True)
class Group:
    """A dimension enumerating ``axes`` row-major, with each axis' current length."""

    axes: tuple[Axis, ...]
    lengths: tuple[int, ...]

    @property
    def keys(self) -> frozenset:
        return frozenset(a.key for a in self.axes)


@dataclass(frozen=True)
class Mixed:
    """A dimension holding positions of ``keys`` in an unknown arrangement (all of them if complete)."""

    keys: frozenset
    complete: bool


Role = Any  # None | Group | Mixed


@dataclass(frozen=True)
class Field:
    roles: tuple[Role, ...]
    fixed: tuple[Axis, ...] = ()  # axes no dimension enumerates any more (a size-1 axis squeezed away)

    @property
    def keys(self) -> frozenset:
        keys = {a.key for a in self.fixed}
        for role in self.roles:
            if role is not None:
                keys |= role.keys
        return frozenset(keys)

    @property
    def spatial(self) -> bool:
        return any(role is not None for role in self.roles) or bool(self.fixed)


State = Any  # None (no spatial content) | GLOBAL | Field


# ---------------------------------------------------------------------------------------------
# rendering


def _num(value: Fraction) -> int | str:
    value = Fraction(value)
    return int(value) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def axes_of(state: State) -> list[Axis] | None:
    """The exact per-axis field of ``state``, sorted by input axis, or None when not exact."""
    if not isinstance(state, Field) or not state.spatial:
        return None
    axes = list(state.fixed)
    for role in state.roles:
        if isinstance(role, Mixed):
            return None
        if isinstance(role, Group):
            axes.extend(role.axes)
    if len({a.key for a in axes}) != len(axes):
        return None
    return sorted(axes, key=lambda a: a.key)


def render(state: State) -> dict | str | None:
    """The JSON form: {"size", "stride", "start"} lists, "global", or None."""
    if state == GLOBAL:
        return GLOBAL
    axes = axes_of(state)
    if axes is None:
        return None
    return {"size": [_num(a.size) for a in axes], "stride": [_num(a.stride) for a in axes],
            "start": [_num(a.start) for a in axes]}


# ---------------------------------------------------------------------------------------------
# state helpers


def _opaque(keys: Iterable, rank: int) -> Field:
    keys = frozenset(keys)
    return Field(tuple(Mixed(keys, False) for _ in range(max(rank, 1))))


def _is_spatial(state: State) -> bool:
    return state == GLOBAL or (isinstance(state, Field) and state.spatial)


def _rank_field(state: Field, rank: int) -> Field:
    """Right-align ``state`` to ``rank`` dims (broadcasting adds leading non-spatial dims)."""
    if len(state.roles) == rank:
        return state
    if len(state.roles) < rank:
        return Field((None,) * (rank - len(state.roles)) + state.roles, state.fixed)
    extra = state.roles[: len(state.roles) - rank]
    if any(r is not None for r in extra):
        raise Unsure("broadcast drops a spatial dimension")
    return Field(state.roles[len(state.roles) - rank:], state.fixed)


def union_axes(axes: Sequence[Axis]) -> tuple[Axis, Fraction]:
    """Union of the branches' windows (extent), and the spread of their centres (misalignment)."""
    strides = {a.stride for a in axes}
    if len(strides) > 1:
        raise Unsure("branches with different strides")
    merged = axes[0]
    for a in axes[1:]:
        merged = merged.union(a)
    centres = [a.centre for a in axes]
    return merged, max(centres) - min(centres)


def merge_fields(states: Sequence[State], out_shape: Sequence[int], in_shapes: Sequence[Sequence[int] | None],
                 skip_dim: int | None = None) -> tuple[State, dict]:
    """Elementwise merge (add/mul/where/cat on ``skip_dim``): union of the inputs' windows per axis.

    Returns the merged state and {input-axis key: centre spread} for misaligned branches.
    """
    if any(s == GLOBAL for s in states):
        return GLOBAL, {}
    rank = len(out_shape)
    fields = []
    for state, shape in zip(states, in_shapes):
        if not isinstance(state, Field) or not state.spatial:
            continue
        field = _rank_field(state, rank)
        if shape is not None:
            shape = (1,) * (rank - len(shape)) + tuple(shape)[-rank:]
            for dim, role in enumerate(field.roles):
                if role is not None and dim != skip_dim and shape[dim] != out_shape[dim]:
                    raise Unsure("a spatial dimension is broadcast")
        fields.append(field)
    if not fields:
        return None, {}
    if len(fields) == 1 and (skip_dim is None or fields[0].roles[skip_dim] is None):
        return fields[0], {}
    misaligned: dict = {}
    roles: list[Role] = []
    for dim in range(rank):
        present = [f.roles[dim] for f in fields if f.roles[dim] is not None]
        if not present:
            roles.append(None)
            continue
        if dim == skip_dim:
            keys = frozenset().union(*(r.keys for r in present))
            roles.append(Mixed(keys, any(isinstance(r, Group) or r.complete for r in present)))
            continue
        if len(present) != len(fields) or not all(isinstance(r, Group) for r in present) or \
                len({tuple(a.key for a in r.axes) for r in present}) != 1 or len({r.lengths for r in present}) != 1:
            keys = frozenset().union(*(r.keys for r in present))
            roles.append(Mixed(keys, False))
            continue
        merged = []
        for i in range(len(present[0].axes)):
            axis, spread = union_axes([r.axes[i] for r in present])
            merged.append(axis)
            if spread:
                misaligned[axis.key] = spread
        roles.append(Group(tuple(merged), present[0].lengths))
    fixed: dict[Key, Axis] = {}
    for f in fields:
        for a in f.fixed:
            fixed[a.key] = fixed[a.key].union(a) if a.key in fixed else a
    return Field(tuple(roles), tuple(fixed.values())), misaligned


def mix(state: Field, dims: Iterable[int]) -> State:
    """Each output unit combines all positions along ``dims``: global when that covers every axis."""
    rank = len(state.roles)
    dims = {d % rank for d in dims}
    covered: set = set()
    touched = False
    for d in dims:
        role = state.roles[d]
        if role is None:
            continue
        touched = True
        if isinstance(role, Mixed) and not role.complete:
            raise Unsure("mixing over a partial set of positions")
        covered |= role.keys
    if not touched:
        return state
    if covered >= state.keys:
        return GLOBAL
    raise Unsure("mixing over some spatial axes only")


def view_roles(field: Field, in_shape: Sequence[int], out_shape: Sequence[int]) -> Field:
    """Map roles through a reshape (view/flatten/unflatten/squeeze/unsqueeze) of the same elements."""
    roles = list(field.roles)
    if len(roles) != len(in_shape):
        raise Unsure("rank mismatch")
    fixed = list(field.fixed)
    out: list[Role] = []
    i = o = 0
    n_in, n_out = len(in_shape), len(out_shape)
    while i < n_in or o < n_out:
        if i < n_in and in_shape[i] == 1 and (o >= n_out or out_shape[o] != 1 or roles[i] is not None):
            if isinstance(roles[i], Group):
                fixed.extend(roles[i].axes)  # a length-1 axis: the unit's window along it stays fixed
            elif isinstance(roles[i], Mixed):
                raise Unsure("squeezed mixed dimension")
            i += 1
            continue
        if o < n_out and out_shape[o] == 1 and (i >= n_in or in_shape[i] != 1):
            out.append(None)
            o += 1
            continue
        if i >= n_in or o >= n_out:
            raise Unsure("reshape changes the element count")
        gi, go = [i], [o]
        pi, po = in_shape[i], out_shape[o]
        i, o = i + 1, o + 1
        while pi != po:
            if pi < po:
                if i >= n_in:
                    raise Unsure("reshape changes the element count")
                gi.append(i)
                pi *= in_shape[i]
                i += 1
            else:
                if o >= n_out:
                    raise Unsure("reshape changes the element count")
                go.append(o)
                po *= out_shape[o]
                o += 1
        out.extend(_regroup([roles[k] for k in gi], [out_shape[k] for k in go]))
    return Field(tuple(out), tuple(fixed))


def _regroup(roles: list[Role], sizes: list[int]) -> list[Role]:
    if all(r is None for r in roles):
        return [None] * len(sizes)
    if len(roles) == 1 and len(sizes) == 1:
        return roles
    keys = frozenset().union(*(r.keys for r in roles if r is not None))
    if len(sizes) == 1:  # merge
        if all(isinstance(r, Group) for r in roles):
            return [Group(sum((r.axes for r in roles), ()), sum((r.lengths for r in roles), ()))]
        complete = all(r is None or isinstance(r, Group) or r.complete for r in roles)
        return [Mixed(keys, complete)]
    if len(roles) == 1 and isinstance(roles[0], Group):  # split: exact when it splits along axis boundaries
        group = roles[0]
        nontrivial = [s for s in sizes if s != 1]
        if tuple(nontrivial) == group.lengths:
            it = iter(zip(group.axes, group.lengths))
            out = []
            for s in sizes:
                if s == 1 and (len(out) >= len(nontrivial) or s != group.lengths[len([x for x in out if x])]):
                    out.append(None)
                else:
                    axis, length = next(it)
                    out.append(Group((axis,), (length,)))
            return out
    return [Mixed(keys, False) for _ in sizes]
