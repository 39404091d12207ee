"""Per-op sizes as polynomials: the costs at any size from a few counting runs, no model run.

A layer's cost is a sum of per-op formulas (``analyses/costs.py``) over the ops it issues, and each
formula reads integers only: tensor sizes and int arguments. Those integers are polynomials of
lower degree than the costs (GPT-2: every size is linear in B and in L, its attention FLOPs are
quadratic in L), so they take fewer counting runs to determine. A run's *profile* groups its costed
ops by (layer, op, argument skeleton), and within a group keeps each distinct integer vector (first
occurrence first) with how often it occurred (an LSTM cell's ops repeat T times: the count is one
more integer to fit).

The fit is separable: measured at a reference point R and at R + j·step along each axis (j = 1..d),
every integer is predicted as ``v(R) · Π_k f_k(x_k) / v(R)`` with ``f_k`` the degree-d interpolant
along axis k (sizes are products of per-dimension factors: ``B·L``, ``B·heads``, ``(H/16)²+1``).
:class:`Replay` then evaluates the same formulas on the predicted integers at any point, so
``fit.fit_costs`` can fit the costs from such *virtual* points; the caller verifies the result on
real counting runs. Anything unexpected (another profile structure, a prediction that is not an
integer, an argument that is neither) raises :class:`NotReplayable` and the caller fits directly.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from ..costs import has_formula, op_cost
from .evaluate import Costs, Records

_INT = "int"
_PLAIN = (bool, float, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)


class NotReplayable(Exception):
    """The sizes are not the separable polynomials the method assumes (or an op cannot be rebuilt)."""


_Tensor = torch.Tensor
_PLAIN_TYPES = frozenset(_PLAIN)


def _skeleton(obj: Any, ints: list[int]) -> Any:
    """``obj`` with its integers (tensor sizes, int arguments) moved into ``ints``: what stays is the
    structure every size must share (dtypes, ranks, flags, floats)."""
    cls = type(obj)
    if cls is int:
        ints.append(obj)
        return _INT
    if cls is _Tensor or isinstance(obj, _Tensor):
        shape = obj.shape
        ints.extend(shape)
        return ("T", obj.dtype, len(shape))
    if cls is tuple or cls is list:
        parts = []
        for o in obj:
            t = type(o)
            if t is int:  # the common cases, inline: size lists, dims, tensors
                ints.append(o)
                parts.append(_INT)
            elif t is _Tensor:
                shape = o.shape
                ints.extend(shape)
                parts.append(("T", o.dtype, len(shape)))
            elif t in _PLAIN_TYPES:
                parts.append((t, o))
            else:
                parts.append(_skeleton(o, ints))
        return (cls, tuple(parts))
    if cls in _PLAIN_TYPES or isinstance(obj, _PLAIN):
        return (cls, obj)
    if isinstance(obj, (list, tuple)):
        return (type(obj), tuple(_skeleton(o, ints) for o in obj))
    if isinstance(obj, dict):
        return (dict, tuple((k, _skeleton(v, ints)) for k, v in obj.items()))
    raise NotReplayable(f"an op argument of type {type(obj).__name__}")


class _Builder:
    """Rebuilds op arguments from skeletons and integers; equal (shape, dtype) meta tensors are made
    once (a model's activations and weights recur across ops and points: cost formulas read sizes)."""

    __slots__ = ("ints", "pos", "tensors")

    def __init__(self) -> None:
        self.tensors: dict[tuple, torch.Tensor] = {}
        self.ints: Sequence[int] = ()
        self.pos = 0

    def __call__(self, skeleton: Any, ints: Sequence[int]) -> Any:
        self.ints, self.pos = ints, 0
        return self.build(skeleton)

    def tensor(self, dtype: torch.dtype, rank: int) -> torch.Tensor:
        start = self.pos
        self.pos = start + rank
        key = (tuple(self.ints[start:self.pos]), dtype)
        tensor = self.tensors.get(key)
        if tensor is None:
            if rank and min(key[0]) < 0:
                raise NotReplayable("a predicted tensor size is negative")
            tensor = self.tensors[key] = torch.empty(key[0], dtype=dtype, device="meta")
        return tensor

    def build(self, skeleton: Any) -> Any:
        if skeleton is _INT:
            self.pos += 1
            return self.ints[self.pos - 1]
        kind = skeleton[0]
        if kind is tuple or kind is list:
            parts = []
            for s in skeleton[1]:  # the common items inline: integers and tensors
                if s is _INT:
                    parts.append(self.ints[self.pos])
                    self.pos += 1
                elif s[0] == "T":
                    parts.append(self.tensor(s[1], s[2]))
                else:
                    parts.append(self.build(s))
            return kind(parts)
        if kind == "T":
            return self.tensor(skeleton[1], skeleton[2])
        if kind is dict:
            return {k: self.build(v) for k, v in skeleton[1]}
        if isinstance(kind, type) and issubclass(kind, (list, tuple)):
            try:
                return kind([self.build(s) for s in skeleton[1]])
            except TypeError:  # a sequence type that is not built from a list (a named tuple)
                raise NotReplayable(f"an op argument of type {kind.__name__}") from None
        return skeleton[1]


_NO_KWARGS = (dict, ())
Key = tuple[str, Any, Any]  # (layer, op, skeleton of (args, kwargs, out))
Profile = dict[Key, dict[tuple[int, ...], int]]  # group -> distinct integer vector -> occurrences


def profile(records: Records, canonical: dict[Any, Any] | None = None) -> Profile:
    """Group a run's ops that have a cost formula (not computed yet in a plain run's records); ops
    without one, and zero-cost ops (views, copies), carry no cost at any size.

    ``canonical`` (shared by the profiles one fit compares): equal skeletons become one object, so
    that comparing two profiles' groups is an identity check, not a walk of every skeleton."""
    out: Profile = {}
    canonical = {} if canonical is None else canonical
    for layer, func, args, kwargs, result, _ in records:
        if layer is None or not has_formula(func):
            continue
        ints: list[int] = []
        skeleton = (tuple, (_skeleton(args, ints), _skeleton(kwargs, ints) if kwargs else _NO_KWARGS,
                            _skeleton(result, ints)))
        skeleton = canonical.setdefault(skeleton, skeleton)
        group = out.setdefault((layer, func, skeleton), {})
        key = tuple(ints)
        group[key] = group.get(key, 0) + 1
    return out


def _flatten(reference: Profile, other: Profile) -> list[int]:
    """``other``'s integers in ``reference``'s order (count, then the vector, per distinct vector)."""
    if len(reference) != len(other):
        raise NotReplayable("the ops differ between sizes")
    flat: list[int] = []
    for (key, group), (theirs_key, theirs) in zip(reference.items(), other.items()):
        if key != theirs_key:  # elementwise, identical objects first (canonical skeletons)
            raise NotReplayable("the ops differ between sizes")
        if len(theirs) != len(group):
            raise NotReplayable(f"{key[1]} in {key[0]} takes {len(group)} distinct sizes at one point, "
                                f"{len(theirs)} at another")
        for vector, count in theirs.items():
            flat.append(count)
            flat.extend(vector)
    return flat


def _lagrange(nodes: int, t: int) -> list[int]:
    """Weights of the values at 0..nodes-1 that give the interpolant at integer ``t`` (integers)."""
    weights = []
    for j in range(nodes):
        num, den = 1, 1
        for i in range(nodes):
            if i != j:
                num *= t - i
                den *= j - i
        weights.append(num // den)
    return weights


class Replay:
    """Per-layer costs at any point, from profiles measured at R and along each axis.

    ``axes[k]`` lists the profiles at R + j·step_k (j = 1..d_k) along dimension ``names[k]``.
    """

    def __init__(self, names: Sequence[str], steps: Sequence[int], reference: Mapping[str, int],
                 ref_profile: Profile, axes: Sequence[Sequence[Profile]], layers: Sequence[str]) -> None:
        self.names = list(names)
        self.steps = list(steps)
        self.reference = dict(reference)
        self.layers = list(layers)
        self.builder = _Builder()
        self.known: dict[tuple[int, ...], tuple[int, int]] = {}  # (class, *its integers) -> (macs, flops)
        self.ref = _flatten(ref_profile, ref_profile)
        self.axes = [[self.ref] + [_flatten(ref_profile, p) for p in along] for along in axes]
        # Entries that are identical at every measured point predict identically: evaluate each
        # (op, skeleton, integer history) once per point, then add it to every layer that has it.
        self.entries: list[tuple[str, int]] = []  # (layer, class) of each distinct vector
        self.count_positions: list[int] = []  # where each entry's count is in the flat profile
        self.classes: list[tuple[Any, Any, range]] = []  # (op, skeleton, positions of its integers)
        seen: dict[Any, int] = {}
        offset = 0
        for (layer, func, skeleton), group in ref_profile.items():
            for vector in group:
                width = len(vector)
                history = tuple(tuple(tuple(axis[j][offset + 1:offset + 1 + width]) for j in range(len(axis)))
                                for axis in self.axes)
                cls = seen.setdefault((func, skeleton, history), len(seen))
                if cls == len(self.classes):
                    self.classes.append((func, skeleton, range(offset + 1, offset + 1 + width)))
                self.entries.append((layer, cls))
                self.count_positions.append(offset)
                offset += 1 + width

        # All integers at once in int64 when no product can overflow (the common case: two
        # dimensions, sizes below 2^24); Python integers otherwise.
        largest = max((max(max(column), -min(column)) for axis in self.axes for column in axis if column), default=0)
        self.tensors = None
        if len(self.axes) <= 2 and largest < 2**24 and max(len(axis) for axis in self.axes) <= 4:
            self.tensors = [torch.tensor(axis, dtype=torch.int64, device="cpu") for axis in self.axes]
            # What does not depend on the point, once: where R is zero (a size that is zero at R only
            # is no product of per-dimension factors) and the common denominator R^(axes-1).
            ref = self.tensors[0][0]
            self.zero = ref == 0
            self.zero_only_at_ref = torch.zeros_like(self.zero)
            for axis in self.tensors:
                self.zero_only_at_ref |= self.zero & (axis != 0).any(0)
            self.den = torch.where(self.zero, torch.ones_like(ref), ref) ** (len(self.tensors) - 1)

    def predict_all(self, values: Mapping[str, int], weights: list[list[int]] | None = None,
                    strict: bool = True) -> list[int | None]:
        """Every integer of the flat profile at ``values`` (``strict=False``: None where there is none)."""
        weights = self.weights(values) if weights is None else weights
        if self.tensors is None or max(abs(w) for ws in weights for w in ws) >= 2**12:
            if strict:
                return self.predict(values, range(len(self.ref)), weights)
            out: list[int | None] = []
            for i in range(len(self.ref)):
                try:
                    out.append(self.predict(values, [i], weights)[0])
                except NotReplayable:
                    out.append(None)
            return out
        num = None
        for ws, axis in zip(weights, self.tensors):
            f = torch.tensor(ws, dtype=torch.int64) @ axis
            num = f if num is None else num * f
        bad = self.zero_only_at_ref | (num % self.den != 0)
        result = (num // self.den).masked_fill_(self.zero, 0).tolist()
        if bool(bad.any()):
            if strict:
                raise NotReplayable("a size is not a product of per-dimension polynomials")
            return [None if b else v for v, b in zip(result, bad.tolist())]
        return result

    def weights(self, values: Mapping[str, int]) -> list[list[int]]:
        """Per axis, the interpolation weights of its measured sizes at ``values``."""
        out = []
        for name, step, axis in zip(self.names, self.steps, self.axes):
            delta = values[name] - self.reference[name]
            if delta % step:
                raise NotReplayable(f"{name}={values[name]} is off the class")
            out.append(_lagrange(len(axis), delta // step))
        return out

    def predict(self, values: Mapping[str, int], positions: Sequence[int],
                weights: list[list[int]] | None = None) -> list[int]:
        """The integers at ``positions`` of the flat profile at ``values``."""
        weights = self.weights(values) if weights is None else weights
        terms = [list(zip(ws, axis)) for ws, axis in zip(weights, self.axes)]
        power = len(self.axes) - 1
        ref = self.ref
        out = []
        for i in positions:
            base = ref[i]
            num = 1
            for pairs in terms:
                f = 0
                for w, column in pairs:
                    f += w * column[i]
                num *= f
            if base == 0:
                if any(column[i] for axis in self.axes for column in axis):
                    raise NotReplayable("a size is zero at the reference point only")
                out.append(0)
                continue
            den = base ** power
            if num % den:
                raise NotReplayable("a size is not a product of per-dimension polynomials")
            out.append(num // den)
        return out

    def __call__(self, values: Mapping[str, int]) -> Costs:
        weights = self.weights(values)
        flat = self.predict_all(values, weights) if self.tensors is not None else None
        per_class: list[tuple[int, int]] = []
        known = self.known
        for cls, (func, skeleton, positions) in enumerate(self.classes):
            ints = flat[positions.start:positions.stop] if flat is not None else self.predict(values, positions, weights)
            key = (cls, *ints)
            pair = known.get(key)
            if pair is None:  # an op whose sizes do not depend on the dimension that moved is costed once
                args, kwargs, out = self.builder(skeleton, ints)
                cost = op_cost(func, args, kwargs, out)
                pair = known[key] = (cost.macs, cost.flops) if cost is not None else (0, 0)
            per_class.append(pair)
        counts = ([flat[i] for i in self.count_positions] if flat is not None
                  else self.predict(values, self.count_positions, weights))
        costs = {name: [0, 0] for name in self.layers}
        for (layer, cls), count in zip(self.entries, counts):
            macs, flops = per_class[cls]
            row = costs.setdefault(layer, [0, 0])
            row[0] += count * macs
            row[1] += count * flops
        return {name: (row[0], row[1]) for name, row in costs.items()}


def mismatched_axes(replay: Replay, values: Mapping[str, int], measured: Profile, ref_profile: Profile) -> set[int]:
    """The axes whose degree is too low to predict ``measured`` (the integers at ``values``): those of
    each wrong integer that depends on one axis only; all axes of a wrong integer that depends on several."""
    flat = _flatten(ref_profile, measured)
    predicted = replay.predict_all(values, strict=False)
    every = set(range(len(replay.axes)))
    single: set[int] = set()
    several: set[int] = set()
    for i, (p, m) in enumerate(zip(predicted, flat)):
        if p != m:
            varying = {k for k, axis in enumerate(replay.axes) if any(col[i] != axis[0][i] for col in axis)}
            (single if len(varying) == 1 else several).update(varying or every)
    return single or several
