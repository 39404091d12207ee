"""Which route determines the formulas: op sizes (few counting runs) first, direct fitting as the fallback.

``by_sizes`` measures the costed ops' sizes at a reference point R = base + step and at R + j·step
along each axis, predicts the per-layer costs at any point from them (``sizes.Replay``), fits the
cost polynomials on those predictions (``fit.fit_costs``, unchanged), and verifies the result on
real counts at two shapes the sizes did not come from: the base (the concrete audit) and
R + 2·step on every axis. When a prediction misses there, the axes it depends on get one more size
(up to ``MAX_SIZE_DEGREE``); when the method does not apply (the ops change with the size, a size is
not a product of per-dimension polynomials) or still misses, the costs are fitted directly on
counting runs as before (``method: "fit"``), reusing the runs already made.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from ...errors import ModelExecutionError
from ...target.inputs import InputSpec
from .evaluate import Costs, Evaluator
from .fit import Rows, SymbolicCosts, SymbolicError, fit_costs
from .sizes import NotReplayable, Profile, Replay, mismatched_axes, profile
from .spec import Dim

MAX_SIZE_DEGREE = 3  # sizes are products of dimensions (degree 1), or of a dimension with its alias (2)


def by_sizes(dims: Sequence[Dim], evaluator: Evaluator, specs_at: Callable[[dict[str, int]], list[InputSpec]],
             base_costs: Rows, params: dict[str, int], kinds: dict[str, str]) -> SymbolicCosts:
    """The formulas by the sizes method, else by direct fitting; ``result.method`` says which ran."""
    names = [d.name for d in dims]
    base = {d.name: d.start() for d in dims}
    runs: dict[tuple[int, ...], tuple[Costs, Profile | None]] = {}

    def measure(values: dict[str, int], record: bool = True) -> tuple[Costs, Profile | None]:
        key = tuple(values[n] for n in names)
        if key not in runs or (record and runs[key][1] is None):
            costs, records = evaluator.run(specs_at(values), record=record)
            runs[key] = (costs, profile(records) if record else None)
        return runs[key]

    # First from small sizes where the base leaves room below it (a recurrent model's counting run
    # costs in proportion to T; checked next to the base), else from one step above the base.
    near = ({d.name: base[d.name] + d.step for d in dims}, {d.name: base[d.name] + 3 * d.step for d in dims})
    low = {d.name for d in dims if _small(d, base[d.name]) + 2 * d.step < base[d.name]}
    starts = [near]
    if low:
        starts.insert(0, ({d.name: _small(d, base[d.name]) if d.name in low else near[0][d.name] for d in dims},
                          {d.name: base[d.name] + d.step if d.name in low else near[1][d.name] for d in dims}))
    for ref, check in starts:
        try:
            result = _sizes(dims, base, ref, check, measure, base_costs, params, kinds)
            return dataclasses.replace(result, runs=len(runs))
        except (NotReplayable, SymbolicError, ModelExecutionError):
            continue  # the sizes are not what the method assumes there

    def count(values: dict[str, int]) -> tuple[Costs, dict]:
        return measure(values, record=False)[0], {}

    result = fit_costs(dims, base_costs, params, kinds, count)
    return dataclasses.replace(result, runs=len(runs))


def _small(d: Dim, base: int) -> int:
    """The smallest size of ``d``'s class that is at least 2 and two steps (size-1 and one-step sizes
    take special paths: no causal mask at L = 1, a 1x1 map after a 32x downsampling)."""
    floor = max(2, 2 * d.step)
    return floor + (base - floor) % d.step


def _sizes(dims: Sequence[Dim], base: dict[str, int], ref: dict[str, int], check: dict[str, int], measure,
           base_costs: Rows, params: dict[str, int], kinds: dict[str, str]) -> SymbolicCosts:
    names = [d.name for d in dims]
    steps = [d.step for d in dims]
    ref_costs, ref_profile = measure(ref)
    if set(ref_costs) != set(base_costs):
        raise NotReplayable("the layers differ between sizes")
    degrees = [1] * len(dims)
    while True:
        axes = [[measure({**ref, d.name: ref[d.name] + j * d.step})[1] for j in range(1, degree + 1)]
                for d, degree in zip(dims, degrees)]
        replay = Replay(names, steps, ref, ref_profile, axes, list(base_costs))

        def real(point: dict[str, int]) -> tuple[Rows, dict]:
            return (base_costs if point == base else measure(point)[0]), {}

        try:
            result = fit_costs(dims, replay(base), params, kinds, lambda values: (replay(values), {}),
                               verify=([base, check], real))
        except SymbolicError:
            wrong = mismatched_axes(replay, check, measure(check)[1], ref_profile)
            if not wrong or any(degrees[k] >= MAX_SIZE_DEGREE for k in wrong):
                raise
            for k in wrong:
                degrees[k] += 1
            continue
        fit_points = [ref] + [{**ref, d.name: ref[d.name] + j * d.step} for d, degree in zip(dims, degrees)
                              for j in range(1, degree + 1)]
        return dataclasses.replace(result, method="sizes", fit_points=fit_points)
