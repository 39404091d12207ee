"""Costs as exact polynomials in named input dimensions, determined by exact fitting.

Method (the report says so): the concrete audit is the base point; along each dimension the
counts at base, base+step, base+2·step, ... give the degree (the first order whose finite
difference vanishes for every layer); the tensor grid of those degrees determines every layer's
polynomial exactly (rational arithmetic); the formula is then checked on shapes not used in the
fit — the next point along every axis and one point off every axis. Costs that are piecewise
(floor in strided convolutions) are polynomial on a congruence class: ``H=W%32`` keeps sizes at
base + 32k, and the output states the class.

Any other integer measured at the same points fits the same way, as more components of each point:
more per-layer metrics (a layer's saved-activation bytes) and summary scalars (activation and peak
bytes of the memory step). A metric named ``lenient`` may fail to be one polynomial (a peak is a max
over the step): it is then reported in ``unfitted`` with the reason instead of failing the fit.

Why not torch's symbolic shapes: running the model under ``FakeTensorMode`` with a ``ShapeEnv``
does give sympy costs through the same formulas, but took 3.2 s for GPT-2 (12 layers, torch 2.14)
against 0.08 s for a concrete audit — far over the 3x budget; see docs/symbolic.md.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping, Sequence

from ...errors import AuditError, ModelExecutionError
from .poly import Poly, finite_difference, fit_grid, monomial
from .spec import Dim

MAX_DEGREE = 6


class SymbolicError(AuditError):
    """The costs could not be written as one polynomial in the named dimensions."""


@dataclass
class SymbolicCosts:
    dims: list[Dim]
    base: dict[str, int]
    method: str
    params: Poly
    macs: Poly
    flops: Poly
    layers: dict[str, tuple[Poly, Poly, Poly]]  # name -> (params, macs, flops)
    kinds: dict[str, str] = field(default_factory=dict)  # name -> "kind (Type)" for naming leading terms
    fit_points: list[dict[str, int]] = field(default_factory=list)
    verified_at: list[dict[str, int]] = field(default_factory=list)
    runs: int = 0
    # Metrics fitted beside the costs (memory bytes): None where the metric is not one polynomial.
    extra: dict[str, Poly | None] = field(default_factory=dict)  # summary scalar -> formula
    layer_extra: dict[str, dict[str, Poly | None]] = field(default_factory=dict)  # layer -> metric -> formula
    unfitted: dict[str, str] = field(default_factory=dict)  # "metric" or "metric of layer" -> why not

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    def valid_for(self) -> str:
        """The admissible sizes, in words: congruence classes and tied dimensions."""
        parts = []
        for d in self.dims:
            if d.step > 1:
                parts.append(f"{d.name} ≡ {self.base[d.name] % d.step} (mod {d.step})")
            parts.extend(f"{a} = {d.name}" for a in d.aliases)
        return ", ".join(parts) or "sizes on the fitted code path"

    def evaluate(self, values: dict[str, int]) -> dict[str, int]:
        """params, macs, flops (and the fitted extra metrics) at ``values`` (exact integers)."""
        out = {k: _as_int(getattr(self, k)(values)) for k in ("params", "macs", "flops")}
        return {**out, **{k: _as_int(p(values)) for k, p in self.extra.items() if p is not None}}

    def leading(self, metric: str = "flops") -> list[dict[str, Any]]:
        """The highest-degree terms of the total and which layer kinds contribute them."""
        total: Poly = getattr(self, metric)
        index = ("params", "macs", "flops").index(metric)
        out = []
        for exps, coeff in total.leading().terms:
            by_kind: dict[str, list] = {}
            for name, polys in self.layers.items():
                c = polys[index].coefficient(exps)
                if c:
                    entry = by_kind.setdefault(self.kinds.get(name, "?"), [0, 0])
                    entry[0] += c
                    entry[1] += 1
            ranked = sorted(by_kind.items(), key=lambda kv: -abs(kv[1][0]))
            out.append({
                "term": str(Poly(total.names, ((exps, coeff),))),
                "monomial": monomial(total.names, exps) or "1",
                "from": [{"kind": k, "layers": n, "coefficient": _text(c)} for k, (c, n) in ranked],
            })
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "dims": self.names,
            "aliases": {a: d.name for d in self.dims for a in d.aliases},
            "steps": {d.name: d.step for d in self.dims if d.step > 1},
            "valid_for": self.valid_for(),
            "method": self.method,
            "base": dict(self.base),
            "fit_points": len(self.fit_points),
            "verified_at": [dict(p) for p in self.verified_at],
            "params": str(self.params),
            "macs": str(self.macs),
            "flops": str(self.flops),
            "leading": self.leading("flops"),
            **{k: _text_or_none(p) for k, p in self.extra.items()},
            **({"not_polynomial": dict(self.unfitted)} if self.extra else {}),
        }

    def layer_dict(self, name: str) -> dict[str, str | None] | None:
        polys = self.layers.get(name)
        if polys is None:
            return None
        out: dict[str, str | None] = {"params": str(polys[0]), "macs": str(polys[1]), "flops": str(polys[2])}
        return {**out, **{k: _text_or_none(p) for k, p in self.layer_extra.get(name, {}).items()}}


def _as_int(value: Any) -> int:
    if value.denominator != 1:
        raise SymbolicError(f"the formula gives a non-integer ({value}) here: the sizes are outside its class")
    return int(value)


def _text_or_none(poly: Poly | None) -> str | None:
    return None if poly is None else str(poly)


def _text(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


Rows = Mapping[str, Sequence[int]]  # layer name -> (macs, flops, *layer_metrics)
Counter = Callable[[dict[str, int]], tuple[Rows, Mapping[str, int]]]  # sizes -> (rows, summary scalars)


def fit_costs(dims: Sequence[Dim], base_costs: Rows, params: dict[str, int], kinds: dict[str, str],
              count: Counter, *, layer_metrics: Sequence[str] = (), base_totals: Mapping[str, int] | None = None,
              lenient: Collection[str] = (), verify: tuple[Sequence[dict[str, int]], Counter] | None = None
              ) -> SymbolicCosts:
    """Fit every layer's MACs and FLOPs; ``count(values)`` runs the model at the sizes ``values`` and
    returns (rows, totals).

    Each row may carry more per-layer metrics after (macs, flops), named by ``layer_metrics``, and
    ``base_totals`` names summary scalars measured at every point: all are components of the same fit.
    A metric in ``lenient`` that is not one polynomial is reported (``unfitted``), never raised.
    ``verify`` = (points, counter): check the formula there with that counter instead of at the
    default shapes with ``count`` (the sizes method fits on predicted counts and checks real ones).
    """
    names = [d.name for d in dims]
    order = list(base_costs)
    metrics = ("macs", "flops", *layer_metrics)
    totals = list(base_totals or {})
    width = len(metrics)
    labels = [(layer, metric) for layer in order for metric in metrics] + [(None, t) for t in totals]
    soft = {i for i, (_, metric) in enumerate(labels) if metric in lenient}
    failed: dict[int, str] = {}
    base = {d.name: d.start() for d in dims}
    cache: dict[tuple[int, ...], list[int]] = {}

    def flat(costs: Rows, scalars: Mapping[str, int], values: dict[str, int]) -> list[int]:
        if set(costs) != set(order):
            changed = sorted(set(costs) ^ set(order))[:3]
            raise SymbolicError(f"the layers differ between {_point(base)} and {_point(values)} "
                                f"(e.g. {', '.join(changed)}): the model's control flow depends on the size")
        return [x for name in order for x in costs[name]] + [scalars[t] for t in totals]

    def at(values: dict[str, int]) -> list[int]:
        key = tuple(values[n] for n in names)
        if key not in cache:
            cache[key] = flat(*((base_costs, base_totals or {}) if values == base else count(values)), values)
        return cache[key]

    nodes: list[list[int]] = []
    for d in dims:
        nodes.append(_probe_axis(d, base, at, soft, failed))
    degrees = [len(n) - 2 for n in nodes]
    grid_nodes = [n[:deg + 1] for n, deg in zip(nodes, degrees)]
    values = {}
    fit_points = []
    for idx in itertools.product(*(range(len(n)) for n in grid_nodes)):
        point = {name: grid_nodes[k][i] for k, (name, i) in enumerate(zip(names, idx))}
        values[idx] = at(point)
        fit_points.append(point)
    polys = fit_grid(names, grid_nodes, values)
    checks = [{**base, d.name: nodes[k][-1]} for k, d in enumerate(dims)]
    joint = {d.name: nodes[k][-1] for k, d in enumerate(dims)}
    if len(dims) > 1 or not checks:
        checks.append(joint)
    else:
        checks.append({names[0]: _next(dims[0], nodes[0])})
    measure = at
    if verify is not None:
        checks, counter = list(verify[0]), verify[1]
        measure = lambda point: flat(*counter(point), point)  # noqa: E731
    verified = []
    for point in checks:
        try:
            observed = measure(point)
        except ModelExecutionError:
            continue  # outside what the model accepts: check the others
        agree: dict[tuple[int, int], bool] = {}  # (poly, count) -> equal: repeated blocks share both
        for i, (o, poly) in enumerate(zip(observed, polys)):
            same = agree.get((id(poly), o))
            if same is None:
                same = agree[(id(poly), o)] = poly.equals(point, o)
            if same or i in failed:
                continue
            p = poly(point)
            if i not in soft:
                raise SymbolicError(f"the fitted formula of {labels[i][0] or labels[i][1]} disagrees with the "
                                    f"count at {_point(point)} ({p} != {o}); " + _piecewise_hint(dims))
            failed[i] = f"the fit predicts {_text(p)} at {_point(point)}, the step measures {o}"
        verified.append(point)
    if len(verified) < 2:
        raise SymbolicError(f"could not verify the formula on two more shapes (the model rejected them); "
                            f"give base sizes with room, e.g. --symbolic {','.join(f'{n}={base[n]}' for n in names)}")
    fitted: list[Poly | None] = [None if i in failed else p for i, p in enumerate(polys)]
    constants: dict[int, Poly] = {}  # many layers share a params count (0 most of all)

    def constant(value: int) -> Poly:
        if value not in constants:
            constants[value] = Poly.constant(names, value)
        return constants[value]

    zero = constant(0)
    layers = {name: (constant(value), zero, zero) for name, value in params.items()}
    layer_extra: dict[str, dict[str, Poly | None]] = {}
    for i, name in enumerate(order):
        row = polys[width * i:width * (i + 1)]
        layers[name] = (constant(params.get(name, 0)), row[0], row[1])
        if layer_metrics:
            layer_extra[name] = dict(zip(layer_metrics, fitted[width * i + 2:width * (i + 1)]))
    macs = Poly.total(names, (p[1] for p in layers.values()))
    flops = Poly.total(names, (p[2] for p in layers.values()))
    unfitted = {(metric if layer is None else f"{metric} of {layer}"): why
                for (layer, metric), why in ((labels[i], failed[i]) for i in sorted(failed))}
    return SymbolicCosts(list(dims), base, "fit", Poly.constant(names, sum(params.values())), macs, flops, layers,
                         kinds, fit_points, verified, runs=len(cache) - 1,
                         extra=dict(zip(totals, fitted[width * len(order):])), layer_extra=layer_extra,
                         unfitted=unfitted)


def _next(d: Dim, nodes: list[int]) -> int:
    return nodes[-1] + (nodes[-1] - nodes[-2])


def _probe_axis(d: Dim, base: dict[str, int], at: Callable[[dict[str, int]], list[int]],
                soft: Collection[int] = (), failed: dict[int, str] | None = None) -> list[int]:
    """Sizes along ``d`` up to one past its degree: the last one's finite difference is zero.

    The strict components' differences must vanish together (as for costs alone); a component in
    ``soft`` settles at the first order its own difference vanishes, and one still unsettled at
    ``MAX_DEGREE`` goes into ``failed`` (it does not hold up the others)."""
    failed = {} if failed is None else failed
    step = d.step
    start = base[d.name]
    rejected: ModelExecutionError | None = None
    for direction in (1, -1):
        nodes = [start]
        samples = [at(base)]
        strict: int | None = None  # the order at which every strict component's difference vanished
        settled: dict[int, int] = {}  # soft component -> the order at which its difference vanished
        try:
            while len(nodes) <= MAX_DEGREE + 1:
                x = start + direction * step * len(nodes)
                if x < 1:
                    raise ModelExecutionError(f"{d.name} would drop below 1")
                nodes.append(x)
                samples.append(at({**base, d.name: x}))
                order = len(nodes) - 1
                diff = finite_difference(samples, order)
                if strict is None and not any(v for i, v in enumerate(diff) if i not in soft):
                    strict = order
                settled.update((i, order) for i in soft if i not in settled and i not in failed and diff[i] == 0)
                if strict is not None and all(i in settled or i in failed for i in soft):
                    return nodes[:max([strict, *settled.values()]) + 1]
        except ModelExecutionError as error:
            if direction == 1 and len(nodes) <= 2:
                rejected = error
                continue  # the model rejects larger sizes: go down from the base instead
            raise
        if strict is not None:
            for i in soft:
                if i not in settled and i not in failed:
                    failed[i] = (f"not a polynomial of degree <= {MAX_DEGREE} in {d.name} over "
                                 f"{d.name} = {min(nodes)}..{max(nodes)}")
            return nodes[:max([strict, *settled.values()]) + 1]
        raise SymbolicError(f"the costs are not a polynomial of degree <= {MAX_DEGREE} in {d.name} at "
                            f"{d.name} = {', '.join(map(str, nodes[:4]))}, ...; " + _piecewise_hint([d]))
    assert rejected is not None
    raise rejected


def _piecewise_hint(dims: Sequence[Dim]) -> str:
    spatial = [d for d in dims if d.step == 1]
    if not spatial:
        return "the costs are piecewise within this class"
    d = spatial[-1]
    tied = "=".join(d.names)
    return (f"they are piecewise (floor divisions in strided or pooling layers): keep {d.name} on a "
            f"congruence class, e.g. --symbolic {tied}%32 for a network that downsamples 32x")


def _point(values: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
