"""Convolutions whose overlapping windows run without padding: maps shrink and the border is lost."""
from __future__ import annotations

from math import prod
from typing import Iterator

from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding, Severity
from ..base import RuleContext, graded, rule
from ._layers import (ConvGeometry, conv_geometry, data_inputs, describe, effective_kernel, is_padding, padding_on,
                      pool_geometry, pool_window, size_text, spatial)
from .fix_texts import padding_fix

# Ops that keep the map size: the next kernel a shrunken map meets is looked up through them.
_SIZE_PRESERVING = {"activation", "norm", "dropout", "identity", "elementwise"}


def _unpadded_axes(layer: Layer, geometry: ConvGeometry, layers: dict[str, Layer]) -> list[int]:
    """Axes with overlapping windows (d(k-1)+1 > stride) and zero padding, unless a padding layer feeds the conv."""
    if geometry.transposed:
        return []
    sources = data_inputs(layer, layers)
    if sources and sources[0] in layers and is_padding(layers[sources[0]]):
        return []
    return [axis for axis, (extent, stride) in enumerate(zip(effective_kernel(geometry), geometry.stride))
            if extent > stride and padding_on(geometry, axis) == 0]


def _window(layer: Layer) -> tuple[int, ...] | None:
    """Effective window of a conv or pooling layer (what a map must at least cover)."""
    geometry = conv_geometry(layer)
    if geometry is not None:
        return effective_kernel(geometry)
    pool = pool_geometry(layer)
    if pool is None or pool.kernel is None:
        return None
    return pool_window(pool)


def _next_windows(name: str, layers: dict[str, Layer],
                  consumers: dict[str, list[str]]) -> list[tuple[str, tuple[int, ...]]]:
    """The conv/pool windows the output of ``name`` meets next, through size-preserving ops."""
    found, stack, seen = [], list(consumers.get(name, [])), set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        layer = layers[current]
        window = _window(layer)
        if window is not None:
            found.append((current, window))
        elif layer.kind in _SIZE_PRESERVING:
            stack.extend(consumers.get(current, []))
    return found


@rule(
    id="missing-padding",
    severity="warning",
    summary="Convolution with overlapping windows and no padding: the map shrinks and the border is lost",
    what="""
A convolution (`nn.Conv1d/2d/3d`, `F.conv2d`, ...) whose windows overlap — effective kernel
d(k − 1) + 1 larger than the stride, dilation-aware — with zero padding on that axis and no explicit
padding layer (`nn.ZeroPad2d`, `nn.ReflectionPad2d`, `F.pad`, ...) feeding it. Each finding gives
the layer's shrink (input → output size) and the cumulative fraction of the input area lost to
unpadded convolutions up to that layer. Not flagged: non-overlapping patchify convolutions
(kernel == stride: ViT/Swin/ConvNeXt stems), 1×1 convolutions, `padding="same"`, transposed
convolutions.
""",
    why="""
Output size is ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1: with p = 0 each layer drops d(k − 1) positions
per axis, and border pixels fall under fewer windows than central ones, so stacked unpadded layers
erode the border and shrink the map (32×32 → 24×24 after four 3×3 layers: 44% of the area gone).
The cumulative loss is measured per axis as the retained fraction min(1, n_out · s / n_in) of each
unpadded layer, multiplied over the path and over the axes: area lost = 1 − ∏ retained. Below
`warning_loss` the finding is info, from `warning_loss` a warning, from `error_loss` an error; a map
that becomes smaller than the next layer's window is an error (that layer then sees mostly padding,
or fails outright).
""",
    example="""
```python
features = nn.Sequential(
    nn.Conv2d(3, 32, 3), nn.ReLU(),   # 32×32 -> 30×30
    nn.Conv2d(32, 32, 3), nn.ReLU(),  # 30×30 -> 28×28
)
```
""",
    fix="""
Pad by d(k − 1)/2 for odd kernels (`nn.Conv2d(32, 32, 3, padding=1)` or `padding="same"` at
stride 1), or put an explicit `nn.ReflectionPad2d` in front when zeros at the border are unwanted.
Each finding's fix is written for its layer: its own type and channels (`nn.Conv1d(4, 16,
kernel_size=3, dilation=2, padding=2)`, `nn.Conv3d(..., kernel_size=5, padding=2)`, `F.conv2d(x,
weight, padding=1)`), and `padding='same'` where the window is even.

Decided for the canonical MNIST nets: PyTorch's MNIST example (two unpadded 3×3 convolutions,
28×28 → 24×24, 26% of the area) and LeNet with `padding=2` on its first convolution (49%) stay
`info` under the 50% `warning-loss`: a small, deliberate border loss in front of a classifier.
LeNet-5 fed 32×32 inputs unpadded loses 61%, like any other such net: a warning — its padding
lives in the data pipeline (MNIST's 28×28 digits padded to 32×32), which the audit cannot see.
""",
    fix_hint="pad by d(k-1)/2: nn.Conv2d(c_in, c_out, 3, padding=1) (or padding='same' at stride 1)",
    options={"warning_loss": 0.5, "error_loss": 0.9},
    option_help={
        "warning_loss": "cumulative fraction of the input area lost at which a finding becomes a warning (below: info)",
        "error_loss": "cumulative fraction of the input area lost at which a finding becomes an error",
    },
)
def missing_padding(graph: LayerGraph, ctx: RuleContext) -> Iterator[Finding]:
    warn, error = float(ctx.options["warning_loss"]), float(ctx.options["error_loss"])
    layers = graph.by_name()
    consumers = graph.consumers()
    retained: dict[str, tuple[float, ...]] = {}
    for layer in graph:
        carried = [retained[name] for name in data_inputs(layer, layers) if name in retained]
        base = min(carried, key=prod) if carried else None
        geometry = conv_geometry(layer)
        if geometry is None or not layer.input_shapes or not layer.output_shapes:
            if base is not None:
                retained[layer.name] = base
            continue
        axes = len(geometry.kernel)
        before, after = spatial(layer.input_shapes[0], axes), spatial(layer.output_shapes[0], axes)
        if base is None or len(base) != axes:
            base = (1.0,) * axes
        unpadded = _unpadded_axes(layer, geometry, layers) if before and after else []
        # A window spanning the whole map is a dense layer over it (Inception's aux head, FC-as-conv): no border.
        unpadded = [axis for axis in unpadded if effective_kernel(geometry)[axis] < before[axis]]
        if not unpadded:
            retained[layer.name] = base
            continue
        factors = [min(1.0, after[i] * geometry.stride[i] / before[i]) if i in unpadded else 1.0 for i in range(axes)]
        kept = tuple(b * f for b, f in zip(base, factors))
        retained[layer.name] = kept
        layer_loss, total_loss = 1 - prod(factors), 1 - prod(kept)
        too_small = [(name, window) for name, window in _next_windows(layer.name, layers, consumers)
                     if len(window) == axes and any(a < w for a, w in zip(after, window))]
        severity = Severity.ERROR if too_small else graded(total_loss, warn, error)
        kernel = size_text(geometry.kernel)
        if any(d > 1 for d in geometry.dilation):
            kernel += f" dilation {size_text(geometry.dilation)}"
        message = (f"{describe(layer)} runs a {kernel} kernel at stride {size_text(geometry.stride)} with no padding: "
                   f"{size_text(before)} → {size_text(after)} ({layer_loss:.1%} of its input area); cumulative area lost "
                   f"{total_loss:.1%} (threshold: warning at {warn:.0%}, error at {error:.0%})")
        if too_small:
            name, window = too_small[0]
            message += f"; the {size_text(after)} map is smaller than the {size_text(window)} window of `{name}`"
        yield ctx.finding(layer, message, severity=severity, fix=padding_fix(layer, geometry), input_size=list(before), output_size=list(after),
                          layer_loss=layer_loss, area_lost=total_loss,
                          smaller_than_next=too_small[0][0] if too_small else None)


RULES = [missing_padding]
