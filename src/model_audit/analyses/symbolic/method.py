"""Which route determines the formulas: op sizes (few counting runs) first, direct fitting as the fallback.

``by_sizes`` measures the costed ops' sizes at a reference point R and at R + step along each axis
(R at the smallest sizes of each class below the base where there is room, else one step above),
predicts the per-layer costs at any point from them (``sizes.Replay``), fits the cost polynomials on
those predictions (``fit.fit_costs``, unchanged), and verifies the result on real counts at two
shapes the sizes did not come from: the base (the concrete audit) and one step beyond the measured
shapes on every axis. Where the sizes miss at that shape, the axes they depend on get one more
measured size (up to ``MAX_SIZE_DEGREE``). Counting runs are plain (no tracer) wherever their ops
can be attributed by position from a traced run (``_Runs``). When the method does not apply (the
ops change with the size, a size is not a product of per-dimension polynomials) or misses, the
costs are fitted directly on traced counting runs as before (``method: "fit"``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from ...errors import ModelExecutionError
from ...target.inputs import InputSpec
from .evaluate import Costs, Evaluator, Records
from .fit import Rows, SymbolicCosts, SymbolicError, fit_costs
from .attribution import attributed, layer_costs
from .sizes import NotReplayable, Profile, Replay, mismatched_axes, profile
from .spec import Dim

MAX_SIZE_DEGREE = 3  # sizes are products of dimensions (degree 1), or of a dimension with its alias (2)


class _Runs:
    """Counting runs by point, each made once: traced ones (per-layer costs from the tracer) and plain
    ones (the model's forward alone, its ops attributed by position from a traced run at R; their
    costs computed only where a verification reads them)."""

    def __init__(self, evaluator: Evaluator, specs_at: Callable[[dict[str, int]], list[InputSpec]],
                 names: Sequence[str], layers: Sequence[str]) -> None:
        self.evaluator, self.specs_at, self.names, self.layers = evaluator, specs_at, list(names), list(layers)
        self.layer_set = set(layers)
        self.plain_ok = True  # until a plain run's ops differ from the reference's
        self.traced: dict[tuple[int, ...], tuple[Costs, Records]] = {}
        self.plain: dict[tuple[int, ...], Records] = {}
        self.raw: dict[tuple[int, ...], Records] = {}  # plain runs not attributed yet

    def key(self, values: dict[str, int]) -> tuple[int, ...]:
        return tuple(values[n] for n in self.names)

    def costs(self, values: dict[str, int]) -> Costs:
        """A traced run's per-layer costs (the direct fit's counter)."""
        return self.trace(values)[0]

    def trace(self, values: dict[str, int]) -> tuple[Costs, Records]:
        key = self.key(values)
        if key not in self.traced:
            self.traced[key] = self.evaluator.run(self.specs_at(values), record=True)
        return self.traced[key]

    def reference(self, values: dict[str, int]) -> Records:
        """A traced run's ops to attribute others by: its layers must be the concrete audit's."""
        costs, records = self.trace(values)
        if set(costs) != self.layer_set:
            raise NotReplayable("the layers differ between sizes")
        return records

    def sizes(self, values: dict[str, int], reference: Records) -> Records:
        """The ops (with their layers) at ``values``, from a plain run when its ops are ``reference``'s."""
        key = self.key(values)
        if key in self.traced:
            return self.reference(values)
        if key not in self.plain and self.plain_ok:
            try:
                return self.attempt(values, reference)
            except NotReplayable:  # the op sequence changes with the size (an LSTM's steps)
                self.plain_ok = False
        return self.plain[key] if key in self.plain else self.reference(values)  # traced from now on

    def layer_costs(self, values: dict[str, int], reference: Records) -> Costs:
        """Per-layer costs at ``values``: the tracer's for a traced run, else summed over the ops."""
        records = self.sizes(values, reference)
        key = self.key(values)
        return self.traced[key][0] if key in self.traced else layer_costs(records, self.layers)

    def attempt(self, values: dict[str, int], reference: Records) -> Records:
        """A plain run attributed by ``reference``; NotReplayable when its ops are not the same (the
        run is kept: another reference may fit it)."""
        key = self.key(values)
        if key not in self.plain:
            if key not in self.raw:
                self.raw[key] = self.evaluator.run(self.specs_at(values), plain=True)[1]
            records = attributed(reference, self.raw[key])
            if any(layer not in self.layer_set for layer, *_ in records if layer is not None):
                raise NotReplayable("an op's layer is not in the concrete audit")
            self.plain[key] = records
        return self.plain[key]


def by_sizes(dims: Sequence[Dim], evaluator: Evaluator, specs_at: Callable[[dict[str, int]], list[InputSpec]],
             base_costs: Rows, params: dict[str, int], kinds: dict[str, str],
             base_records: Records | None = None) -> SymbolicCosts:
    """The formulas by the sizes method, else by direct fitting; ``result.method`` says which ran.
    ``base_records``: the concrete audit's ops with their layers; R's run is attributed by them when
    its costed ops are the same, and traced otherwise."""
    names = [d.name for d in dims]
    base = {d.name: d.start() for d in dims}
    runs = _Runs(evaluator, specs_at, names, list(base_costs))
    before = evaluator.runs
    # First from small sizes where the base leaves room below it (a recurrent model's counting run
    # costs in proportion to T; checked next to the base), else from one step above the base.
    # The check must not be one of the measured shapes: off every axis through R (two dimensions or
    # more), or beyond the most sizes an axis can get (one dimension).
    beyond = 3 if len(dims) > 1 else MAX_SIZE_DEGREE + 2
    near = ({d.name: base[d.name] + d.step for d in dims}, {d.name: base[d.name] + beyond * d.step for d in dims})
    low = {d.name for d in dims if _small(d, base[d.name]) + 2 * d.step < base[d.name]}
    starts = [near]
    if low:
        starts.insert(0, ({d.name: _small(d, base[d.name]) if d.name in low else near[0][d.name] for d in dims},
                          {d.name: base[d.name] + d.step if d.name in low else near[1][d.name] for d in dims}))
    for ref, check in starts:
        try:
            result = _sizes(dims, base, ref, check, runs, base_costs, params, kinds, base_records)
            return dataclasses.replace(result, runs=evaluator.runs - before)
        except (NotReplayable, SymbolicError, ModelExecutionError):
            continue  # the sizes are not what the method assumes there

    result = fit_costs(dims, base_costs, params, kinds, lambda values: (runs.costs(values), {}))
    return dataclasses.replace(result, runs=evaluator.runs - before)


def _small(d: Dim, base: int) -> int:
    """The smallest size of ``d``'s class that is at least 2 and two steps (size-1 and one-step sizes
    take special paths: no causal mask at L = 1, a 1x1 map after a 32x downsampling)."""
    floor = max(2, 2 * d.step)
    return floor + (base - floor) % d.step


def _sizes(dims: Sequence[Dim], base: dict[str, int], ref: dict[str, int], check: dict[str, int], runs: _Runs,
           base_costs: Rows, params: dict[str, int], kinds: dict[str, str],
           base_records: Records | None) -> SymbolicCosts:
    names = [d.name for d in dims]
    steps = [d.step for d in dims]
    # R's ops take their layers from the concrete audit when they are the same ops (GPT-2 at B = 1
    # and 2: the costed ones are); else from the first point along the first axis, traced (vit_b_16
    # runs addmm at B = 1, mm and add at B = 2); else R is traced itself.
    first = {**ref, dims[0].name: ref[dims[0].name] + dims[0].step}
    try:
        if base_records is None:
            raise NotReplayable("no base run to attribute by")
        ref_records = runs.attempt(ref, base_records)
    except NotReplayable:
        try:
            ref_records = runs.attempt(ref, runs.reference(first))
        except NotReplayable:
            ref_records = runs.reference(ref)
    canonical: dict = {}  # one object per distinct skeleton, across the profiles compared here
    ref_profile = profile(ref_records, canonical)
    profiles: dict[tuple[int, ...], Profile] = {}

    def profile_at(values: dict[str, int]) -> Profile:
        key = tuple(values[n] for n in names)
        if key not in profiles:
            profiles[key] = profile(runs.sizes(values, ref_records), canonical)
        return profiles[key]

    degrees = [1] * len(dims)
    while True:
        axes = [[profile_at({**ref, d.name: ref[d.name] + j * d.step}) for j in range(1, degree + 1)]
                for d, degree in zip(dims, degrees)]
        replay = Replay(names, steps, ref, ref_profile, axes, list(base_costs))
        # The sizes first: where one is mispredicted at the check, its axes get one more measured size.
        wrong = mismatched_axes(replay, check, profile_at(check), ref_profile)
        if wrong:
            if any(degrees[k] >= MAX_SIZE_DEGREE for k in wrong):
                raise NotReplayable("the sizes are not polynomials of low degree")
            for k in wrong:
                degrees[k] += 1
            continue

        def real(point: dict[str, int]) -> tuple[Rows, dict]:
            return (base_costs if point == base else runs.layer_costs(point, ref_records)), {}

        result = fit_costs(dims, replay(base), params, kinds, lambda values: (replay(values), {}),
                           verify=([base, check], real))
        fit_points = [ref] + [{**ref, d.name: ref[d.name] + j * d.step} for d, degree in zip(dims, degrees)
                              for j in range(1, degree + 1)]
        return dataclasses.replace(result, method="sizes", fit_points=fit_points)
