"""Two affine layers composed with only linear ops between: one layer written twice."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Iterator

from ...ir import ops
from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ._layers import conv_geometry, conv_weights, data_inputs, describe, is_batchnorm, linear_features, op_name

# Scalar affine ops: with one activation input (the other a number or a parameter) they stay affine.
_SHAPE_KINDS = {"reshape", "identity", "dropout", "padding"}


@dataclass(frozen=True)
class _Affine:
    """Channels in/out, weights, and (for convolutions) kernel and groups of an affine layer."""

    c_in: int
    c_out: int
    weights: int
    kernel: tuple[int, ...] | None  # None for Linear
    groups: int


def _affine(layer: Layer) -> _Affine | None:
    geometry = conv_geometry(layer)
    if geometry is not None:
        return _Affine(geometry.in_channels, geometry.out_channels, conv_weights(geometry), tuple(geometry.kernel),
                       geometry.groups)
    features = linear_features(layer)
    if features is not None:
        return _Affine(features[0], features[1], features[0] * features[1], None, 1)
    return None


def _is_linear_op(layer: Layer, layers: dict[str, Layer]) -> bool:
    """Ops that keep a composition affine: shape ops, dropout, padding, BatchNorm, scalar affine ops.

    Not: activations; pooling, reductions and resampling (linear, but they change the sampling
    grid: layers before and after them work at two scales); LayerNorm/GroupNorm/InstanceNorm
    (per-sample statistics are not affine); merges of two activations (residual adds,
    concatenations, products); attention.
    """
    inputs = len(data_inputs(layer, layers))
    if inputs != 1:
        return False
    if layer.kind in _SHAPE_KINDS or is_batchnorm(layer):
        return True
    name = op_name(layer)
    if layer.kind in ("elementwise", "merge") and name in ops.AFFINE_ELEMENTWISE:
        return True
    return layer.kind == "merge" and name in ops.CONCAT_ALONG_DIM  # one activation alone (DenseNet's first cat)


def _next_affine(start: str, layers: dict[str, Layer],
                 consumers: dict[str, list[str]]) -> Iterator[tuple[Layer, list[str]]]:
    """Affine layers reachable from ``start`` through linear ops only, with the ops between."""
    stack: list[tuple[str, list[str]]] = [(user, []) for user in consumers.get(start, [])]
    seen: set[str] = set()
    while stack:
        current, between = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        layer = layers[current]
        if _affine(layer) is not None:
            if len(data_inputs(layer, layers)) == 1:
                yield layer, between
        elif _is_linear_op(layer, layers):
            stack.extend((user, between + [current]) for user in consumers.get(current, []))


def _factorization(first: _Affine, second: _Affine) -> str | None:
    """Why composing ``first`` then ``second`` is a deliberate factorization, or None when it is redundant."""
    if first.kernel is None and second.kernel is None and first.c_out != second.c_in:
        return "the two Linear layers act on different axes"
    if first.kernel is not None and second.kernel is not None:
        if first.groups != second.groups:
            return "depthwise/grouped and dense convolutions: a separable factorization"
        if first.kernel != second.kernel:
            return "different kernel shapes: a spatially separable factorization"
    middle = first.c_out
    if middle <= min(first.c_in, second.c_out) and middle < max(first.c_in, second.c_out):
        return "a linear bottleneck"
    return None


@rule(
    id="missing-nonlinearity",
    severity="warning",
    summary="Two affine layers (Linear/Conv) composed with only linear ops between: no nonlinearity",
    what="""
A `Linear`/`Conv` layer (module or functional) feeding another one through linear ops only —
reshapes, dropout, padding, BatchNorm (affine at inference), scalar or per-channel scale/shift — with
no activation between. The walk stops at activations, pooling, reductions and resampling (linear,
but a change of sampling grid makes the pair work at two scales), LayerNorm/GroupNorm (per-sample
statistics), attention, and merges of two activations, so it never crosses a residual add, a concatenation of
branches or attention's products (the q/k/v projections meet in `q @ kᵀ`).

Deliberate factorizations are not flagged. The principle: a pair is left alone when its structure
is one a designer picks on purpose — separable in space or in channels, or a channel bottleneck —
and flagged when it is the same-width or widen-then-narrow pair a forgotten activation leaves
(whether or not it happens to be smaller than the single equivalent layer):
- depthwise/grouped ↔ dense convolutions (different `groups`): depthwise-separable factorizations
  (MobileNet, Xception, ConvNeXt, ShuffleNet);
- convolutions with different kernel shapes (1×k then k×1): spatially separable;
- a linear bottleneck: the tensor between is no wider than either end and narrower than one of
  them, c_mid ≤ min(c_in, c_out) and c_mid < max(c_in, c_out) — MobileNetV2's projection followed
  by the next block's expansion (Sandler et al. 2018), low-rank and autoencoder bottlenecks;
- Linear layers on different axes (token- then channel-mixing).
""",
    why="""
A composition of affine maps is affine: W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂). Without a
nonlinearity between them the two layers have the expressive power of one layer of shape
c_in → c_out (rank ≤ min(c_in, c_out)) while paying for both: extra parameters, compute and a
harder optimization, and usually a forgotten activation. The finding gives both layers' weights and
those of the single equivalent layer.
""",
    example="""
```python
head = nn.Sequential(nn.Linear(512, 256), nn.Dropout(0.2), nn.Linear(256, 10))
# = one Linear(512, 10): 5,120 weights instead of 133,632
```
""",
    fix="""
Insert the activation you meant (`nn.ReLU()`, `nn.GELU()`) between the layers, or replace the pair
by the single layer it equals.
""",
    fix_hint="insert an activation (nn.ReLU/nn.GELU) between the two layers, or merge them into one",
    options={"allow_factorizations": True},
    option_help={
        "allow_factorizations": "leave depthwise-separable, spatially separable and bottleneck compositions alone "
                                "(false: flag every affine composition)",
    },
)
def missing_nonlinearity(graph: LayerGraph, ctx: RuleContext) -> Iterator[Finding]:
    allow = bool(ctx.options["allow_factorizations"])
    layers = graph.by_name()
    consumers = graph.consumers()
    for layer in graph:
        first = _affine(layer)
        if first is None:
            continue
        for following, between in _next_affine(layer.name, layers, consumers):
            second = _affine(following)
            reason = _factorization(first, second)
            if allow and reason is not None:
                continue
            merged = _merged_weights(layer, following, first, second)
            via = "through " + ", ".join(f"`{name}`" for name in between) if between else "directly"
            yield ctx.finding(
                layer,
                f"{describe(layer)} ({first.c_in}→{first.c_out}) feeds {describe(following)} "
                f"({second.c_in}→{second.c_out}) {via} with no nonlinearity: the pair is one affine map, "
                f"a single layer of {merged:,} weights instead of {first.weights + second.weights:,} "
                f"(threshold: any composition that is not a factorization)",
                second=following.name, between=between, weights=first.weights + second.weights,
                merged_weights=merged,
            )


def _merged_weights(a: Layer, b: Layer, first: _Affine, second: _Affine) -> int:
    """Weights of the single layer equal to the composition."""
    if first.kernel is None and second.kernel is None:
        return first.c_in * second.c_out
    ga, gb = conv_geometry(a), conv_geometry(b)
    if ga is not None and gb is not None and len(ga.kernel) == len(gb.kernel):
        kernel = [ka + (kb - 1) * s for ka, kb, s in zip(ga.kernel, gb.kernel, ga.stride)]
        groups = ga.groups if ga.groups == gb.groups else 1
        return ga.in_channels * gb.out_channels * prod(kernel) // groups
    per_sample_in = prod(a.input_shapes[0][1:]) if a.input_shapes and len(a.input_shapes[0]) > 1 else first.c_in
    per_sample_out = prod(b.output_shapes[0][1:]) if b.output_shapes and len(b.output_shapes[0]) > 1 else second.c_out
    return per_sample_in * per_sample_out


RULES = [missing_nonlinearity]
