"""What feeds a BatchNorm: Dropout upstream (variance shift) and a bias it cancels (wasted parameters)."""
from __future__ import annotations

from typing import Iterator

from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, graded, rule
from ._layers import conv_geometry, data_inputs, describe, drop_probability, has_bias, is_batchnorm, linear_features
from ._layers import uses_running_stats
from .dropout_inference import active_at_inference, variance_verdict
from .fix_texts import no_bias_fix


def _reaches_batchnorm(start: str, layers: dict[str, Layer],
                       consumers: dict[str, list[str]]) -> tuple[str, list[str]] | None:
    """The first BatchNorm (with running statistics) reachable from ``start`` with no BatchNorm between, and the path.

    Breadth-first through every op; the walk stops at any norm layer: a BatchNorm is the hit, and
    LayerNorm/GroupNorm/InstanceNorm renormalize each sample with its own statistics at inference
    too, so the variance shift does not reach past them.
    """
    parent: dict[str, str] = {}
    queue = [(user, start) for user in consumers.get(start, [])]
    while queue:
        current, via = queue.pop(0)
        if current in parent or current == start:
            continue
        parent[current] = via
        layer = layers[current]
        if is_batchnorm(layer):
            if uses_running_stats(layer):
                path = [current]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return current, list(reversed(path))[1:-1]
            continue
        if layer.kind == "norm":
            continue
        queue.extend((user, current) for user in consumers.get(current, []))
    return None


@rule(
    id="dropout-before-batchnorm",
    severity="warning",
    summary="Dropout (p > 0) whose output reaches a BatchNorm: the running variance is wrong at inference",
    what="""
A dropout (`nn.Dropout`, `nn.Dropout2d`, `nn.AlphaDropout`, ..., `F.dropout`) with p > 0 whose
output reaches a BatchNorm that normalizes with running statistics, through any path with no
BatchNorm in between (convolutions, activations, residual adds included). A LayerNorm, GroupNorm or
InstanceNorm on the way ends the path: they normalize each sample by its own statistics at
inference too. p = 0 is not a finding (ViT's default dropouts), nor p below `min_p` (default 0.01:
DenseNet-style `Dropout(p=1e-7)` "hot fix" dropouts scale by 1.0000001, a shift no one can measure).
Not flagged either: a dropout that stays on at inference — `F.dropout(x, p)` without `training=`
(which defaults to True), Monte-Carlo dropout modules that sample in eval mode — since training and
inference then see the same variance (judged from an eval-mode audit, the default). Severity grows
with p: info below `warning_p`, a warning from it, an error from `error_p`. With `--probe`, a measured
train/eval variance ratio inside `variance_band` (0.9..1.1) downgrades the finding to info, quoting
the figure; outside it the figure confirms the finding.

Tracers: torch.fx sees `F.dropout(x, p, training=self.training)` in both modes (its `training`
argument is baked in, its `p` is read). The hooks tracer sees `nn.Dropout` modules in both modes,
but `F.dropout` only in train mode (as `bernoulli_`): in eval mode it runs no op at all.
""",
    why="""
Dropout scales kept units by 1/(1 − p) in training, so a unit's variance during training is
Var_train = (Var[x] + E[x]²)/(1 − p) − E[x]², and equals Var[x] at inference. The BatchNorm after it
accumulates running statistics under the training variance and applies them at inference to
activations with a different variance: the "variance shift" (Li, Chen, Hu & Yang, *Understanding the
Disharmony between Dropout and Batch Normalization by Variance Shift*, CVPR 2019), which grows with p
and makes inference predictions drift. Their fix: put dropout after the last BatchNorm.
""",
    example="""
```python
block = nn.Sequential(
    nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Dropout(0.3),
    nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64),  # running var learned under dropout
)
```
""",
    fix="""
Move dropout after the last BatchNorm (e.g. only before the classifier), or replace BatchNorm after
it by LayerNorm/GroupNorm, or use a variance-stable dropout (Uout, Li et al. 2019).
""",
    fix_hint="move Dropout after the last BatchNorm (e.g. just before the classifier)",
    options={"warning_p": 0.1, "error_p": 0.5, "min_p": 0.01, "variance_band": [0.9, 1.1]},
    option_help={
        "warning_p": "drop probability from which a finding is a warning (below: info)",
        "error_p": "drop probability from which a finding is an error",
        "min_p": "drop probability below which a dropout is not reported at all (DenseNet's p=1e-7)",
        "variance_band": "measured train/eval variance ratio [low, high] (with --probe) taken as no shift: info",
    },
)
def dropout_before_batchnorm(graph: LayerGraph, ctx: RuleContext) -> Iterator[Finding]:
    warn, error = float(ctx.options["warning_p"]), float(ctx.options["error_p"])
    min_p = float(ctx.options["min_p"])
    low, high = (float(v) for v in ctx.options["variance_band"])
    layers = graph.by_name()
    consumers = graph.consumers()
    for layer in graph:
        p = drop_probability(layer)
        if not p or p <= 0 or p < min_p:
            continue
        hit = _reaches_batchnorm(layer.name, layers, consumers)
        if hit is None or active_at_inference(layer, ctx.mode):
            continue
        bn, path = hit
        via = f" via {' → '.join(path)}" if path else " directly"
        measured = variance_verdict(_measured_ratio(ctx, bn), low, high)
        if measured["verdict"] == "silence":
            yield ctx.finding(layer, f"{describe(layer)} drops with p={p:g} before BatchNorm `{bn}`{via}; "
                                     f"{measured['text']}", severity="info", p=p, batchnorm=bn, path=path)
            continue
        yield ctx.finding(
            layer,
            f"{describe(layer)} drops with p={p:g} and its output reaches BatchNorm `{bn}`{via} with no BatchNorm "
            f"between: the running variance is estimated under dropout's 1/(1-p) = {1 / (1 - p):.3g}× scaling and is "
            f"wrong at inference (threshold: warning at p ≥ {warn:g}, error at p ≥ {error:g})",
            severity=graded(p, warn, error),
            p=p, batchnorm=bn, path=path, variance_band=[low, high],
        )


def _measured_ratio(ctx: RuleContext, bn: str) -> float | None:
    """The probe's Var(BN input, eval) / running_var at ``bn`` when the context carries a probe report."""
    probe = getattr(ctx, "probe", None)
    for layer in getattr(probe, "layers", None) or []:
        if getattr(layer, "name", None) == bn:
            return getattr(layer, "bn_variance_ratio", None)
    return None


def _bias_axis(layer: Layer) -> int | None:
    """The output axis a conv/linear bias is added along (conv: channels; linear: the last axis)."""
    if not layer.output_shapes:
        return None
    rank = len(layer.output_shapes[0])
    geometry = conv_geometry(layer)
    if geometry is not None:
        return rank - len(geometry.kernel) - 1
    return rank - 1 if linear_features(layer) is not None else None


def _norm_axis(layer: Layer) -> int | None:
    """The channel axis a BatchNorm/InstanceNorm normalizes per ([N, C, ...]: 1; unbatched [C, L]: 0)."""
    if not layer.input_shapes:
        return None
    rank = len(layer.input_shapes[0])
    name = type(layer.module).__name__ if layer.module is not None else ""
    unbatched = "Instance" in name and name[-2].isdigit() and rank == int(name[-2]) + 1
    return 0 if unbatched or rank == 1 else 1


def _cancelling_norms(start: Layer, layers: dict[str, Layer], consumers: dict[str, list[str]]) -> list[str] | None:
    """The BatchNorm/InstanceNorm layers every use of ``start`` reaches through shape-preserving ops, or None."""
    shape = start.output_shapes[0]
    axis = _bias_axis(start)
    found: list[str] = []
    stack, seen = list(consumers.get(start.name, [])), set()
    if not stack:
        return None
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        layer = layers[current]
        same_shape = layer.output_shapes[:1] == [shape] and len(data_inputs(layer, layers)) == 1
        if is_batchnorm(layer, instance=True):
            if not layer.input_shapes or layer.input_shapes[0] != shape or _norm_axis(layer) != axis:
                return None
            found.append(current)
        elif same_shape and layer.kind in ("identity", "dropout", "reshape"):
            stack.extend(consumers.get(current, []))
        else:
            return None  # some use of the output keeps the bias meaningful
    return found or None


@rule(
    id="bias-before-batchnorm",
    severity="info",
    summary="Conv/Linear bias feeding BatchNorm/InstanceNorm on the same channel axis: cancelled, wasted parameters",
    what="""
A convolution or linear layer with a bias whose every use is a BatchNorm or InstanceNorm normalizing
the same channel axis the bias is added along (directly, or through shape-preserving ops: dropout,
identity, `contiguous()`). Never flagged before LayerNorm or GroupNorm (they normalize over
several channels at once, so a per-channel bias changes their output), nor when the output is also
used elsewhere (a residual branch), nor when the norm's channel axis is not the bias's (a Linear
on [N, L, F] followed by BatchNorm1d over L).
""",
    why="""
BatchNorm computes y = γ (x − μ_c)/σ_c + β per channel c. A bias b_c added before it shifts x and
μ_c by the same b_c, so it cancels exactly: (x + b_c − (μ_c + b_c)) = x − μ_c, and β already is the
learned per-channel offset. The bias parameters receive zero gradient and are wasted (the finding
counts them); InstanceNorm subtracts a per-sample, per-channel mean and cancels them the same way.
""",
    example="""
```python
nn.Sequential(nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU())  # 128 wasted biases
```
""",
    fix="""
Pass `bias=False` to the layer before the norm: `nn.Conv2d(64, 128, 3, padding=1, bias=False)`.
""",
    fix_hint="pass bias=False to the conv/linear layer before the BatchNorm",
)
def bias_before_batchnorm(graph: LayerGraph, ctx: RuleContext) -> Iterator[Finding]:
    layers = graph.by_name()
    consumers = graph.consumers()
    for layer in graph:
        if not layer.output_shapes or not has_bias(layer):
            continue
        geometry = conv_geometry(layer)
        features = linear_features(layer)
        if geometry is None and features is None:
            continue
        norms = _cancelling_norms(layer, layers, consumers)
        if not norms:
            continue
        wasted = geometry.out_channels if geometry is not None else features[1]
        yield ctx.finding(
            layer,
            f"{describe(layer)} adds a bias that {', '.join(f'`{n}`' for n in norms)} ({layers[norms[0]].type}) "
            f"subtracts again with its per-channel mean: {wasted:,} wasted parameters (threshold: any)",
            fix=no_bias_fix(layer, geometry, features), wasted_params=wasted, norms=norms,
        )


RULES = [dropout_before_batchnorm, bias_before_batchnorm]
