"""Convolution kernel sizes: even kernels shift features; large dense kernels cost more than stacked 3×3."""
from __future__ import annotations

import math
from typing import Iterable

from ...ir.graph import LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ...ir.facts import ConvGeometry, conv_geometry
from ._layers import conv_weights, effective_kernel, size_text
from .fix_texts import odd_kernel_fix


@rule(
    id="even-kernel",
    severity="warning",
    summary="Convolution with an even kernel size (no centre tap, half-pixel shift)",
    fix_hint="use an odd kernel (3, 5, 7) with padding (k-1)/2",
    what="""
Convolutions whose kernel is even (2, 4, 6, …) along some axis, module or functional — the
dilated extent `d(k−1)+1` decides, so a 2-tap kernel at dilation 2 (extent 3, centred) is fine.
Not flagged: kernel 1; non-overlapping patchify convolutions (kernel == stride along that axis, the ViT, Swin and
ConvNeXt stems); transposed convolutions whose kernel is a multiple of the stride (the
checkerboard-free upsampler `ConvTranspose2d(k=4, s=2, p=1)`); a window spanning the whole padded
map (DCGAN's final `Conv2d(512, 1, 4, 1, 0)` on a 4×4 map: one output, nothing to shift); an unpadded
window that slides along one axis only — Kim's TextCNN `Conv2d(1, 100, (2, 300))` whose width spans the
whole embedding, an unpadded `nn.Conv1d(k=2)` after a causal `F.pad` — since such a window is an n-gram
(or a causal tap pair): no padding tries to keep the size, its output indexes windows, not centred
positions, and is usually pooled over time. A padded even 1-D kernel still fires (it tries to keep the
size and cannot). A strided even kernel whose
size is a multiple of the stride (`k=4, s=2`, DCGAN/PatchGAN discriminators) is reported as info. The
fix names the layer's own odd kernel and padding (`nn.Conv2d(64, 64, kernel_size=3, padding=1)`).
""",
    why="""
An odd kernel has a centre: with padding `p = (k−1)/2` the output at position `i` is centred on
input `i`, and the map keeps its size. An even kernel has no centre, so no symmetric padding
preserves the size at stride 1 (`n + 2p − k + 1 = n` needs `p = (k−1)/2`, not an integer), and
every layer shifts features by half a pixel; stacked, the shifts accumulate and the model's output
drifts from the input grid (Wu et al., *Convolution with even-sized kernels and symmetric padding*,
NeurIPS 2019).
""",
    example="""
```python
self.conv = nn.Conv2d(64, 64, kernel_size=4, padding=2)   # 4×4 at stride 1: output grows by 1 and shifts
```
""",
    fix="""
Use an odd kernel and `padding=(k-1)//2`: `nn.Conv2d(64, 64, kernel_size=3, padding=1)`. For
patch embeddings keep `kernel_size == stride`.
""",
)
def even_kernel(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    for layer in graph:
        geometry = conv_geometry(layer)
        if geometry is None:
            continue
        spatial = layer.input_shapes[0][-len(geometry.kernel):] if layer.input_shapes else None
        axes = [a for a, k in enumerate(geometry.kernel)
                if k > 1 and geometry.effective_kernel(a) % 2 == 0 and k != geometry.stride[a]
                and not (geometry.transposed and k % geometry.stride[a] == 0)
                and not _whole_map(geometry, a, spatial)]
        sliding = [a for a in range(len(geometry.kernel)) if not _whole_map(geometry, a, spatial)]
        if not axes or (len(sliding) == 1 and geometry.pad(sliding[0]) == 0):
            continue  # an unpadded 1-D window (TextCNN over full-width embeddings, causal taps): an n-gram
        strided = all(geometry.stride[a] > 1 and geometry.kernel[a] % geometry.stride[a] == 0 for a in axes)
        kernel, stride = size_text(geometry.kernel), size_text(geometry.stride)
        yield ctx.finding(
            layer,
            f"kernel {kernel} is even along {'axis' if len(axes) == 1 else 'axes'} {', '.join(map(str, axes))} "
            f"(stride {stride}); "
            f"an odd kernel (threshold: kernel odd, 1, or == stride) keeps a centre tap and the input grid",
            severity="info" if strided else None, fix=odd_kernel_fix(layer, geometry, axes),
            kernel=list(geometry.kernel), stride=list(geometry.stride), even_axes=axes,
        )


def _whole_map(geometry: ConvGeometry, axis: int, spatial: tuple[int, ...] | None) -> bool:
    """The window spans the whole (padded) map, like DCGAN's final 4×4 conv on a 4×4 map: one
    output, no grid to shift and no centre to miss."""
    if spatial is None or geometry.transposed or isinstance(geometry.padding, str):
        return False
    return spatial[axis] + geometry.pad(axis) <= geometry.effective_kernel(axis)


def _stack(geometry: ConvGeometry) -> tuple[int, tuple[int, ...]]:
    """How many stride-1 convolutions with kernel ≤ 3 per axis cover the same field, and their kernel."""
    field = max(effective_kernel(geometry))
    layers = math.ceil((field - 1) / 2)
    return layers, tuple(min(k, 3) for k in geometry.kernel)


@rule(
    id="large-kernel",
    severity="info",
    summary="Dense k≥5 convolution at stride 1 that stacked 3×3 convolutions would make cheaper",
    fix_hint="replace the k×k convolution with (k-1)/2 stacked 3×3 convolutions with nonlinearities between",
    options={"min_kernel": 5},
    option_help={"min_kernel": "smallest kernel size (along any axis) that is reported"},
    what="""
Stride-1, non-depthwise convolutions with a kernel of at least `min-kernel` (default 5) along some
axis, when a stack of 3×3 convolutions with the same receptive field has fewer weights for this
layer's channel counts. Not flagged: depthwise convolutions (ConvNeXt's and EfficientNet's 7×7/5×5
depthwise kernels cost k²·C, not k²·C², and are a deliberate choice), strided stems (ResNet's 7×7/2
stem on 3 channels is cheaper than the stack), factorized kernels such as 1×7 + 7×1, and layers
where the stack would cost more (few input channels).
""",
    why="""
Receptive fields add: `n` stacked stride-1 3×3 convolutions see `2n + 1` pixels, so three 3×3 see
what one 7×7 sees (and two see what a 5×5 sees). With `C` channels in and out a 7×7 layer holds
`49·C²` weights and three 3×3 layers `27·C²` (−45%), with two extra nonlinearities in between
(Simonyan & Zisserman, *Very Deep Convolutional Networks*, ICLR 2015, §2.3). MACs shrink by the
same ratio at stride 1.
""",
    example="""
```python
self.conv = nn.Conv2d(64, 64, kernel_size=7, padding=3)       # 200,704 weights
```
""",
    fix="""
```python
self.conv = nn.Sequential(                                    # 110,592 weights
    nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
    nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
    nn.Conv2d(64, 64, 3, padding=1),
)
```
or make the large kernel depthwise (`groups=channels`) followed by a 1×1 convolution.
""",
)
def large_kernel(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    threshold = int(ctx.options["min_kernel"])
    for layer in graph:
        geometry = conv_geometry(layer)
        if geometry is None or geometry.transposed or geometry.depthwise:
            continue
        if any(s != 1 for s in geometry.stride) or max(geometry.kernel) < threshold:
            continue
        c_in, c_out, groups = geometry.in_channels, geometry.out_channels, geometry.groups
        taps = math.prod(geometry.kernel)
        weights = conv_weights(geometry)
        layers, small = _stack(geometry)
        small_taps = math.prod(small)
        stacked = (small_taps * c_in * c_out + (layers - 1) * small_taps * c_out * c_out) // groups
        if stacked >= weights:
            continue
        saving = 1 - stacked / weights
        yield ctx.finding(
            layer,
            f"{size_text(geometry.kernel)} kernel at stride 1 (threshold: {threshold}): {weights:,} weights "
            f"({taps}·{c_in}·{c_out}{'/' + str(groups) if groups > 1 else ''}); {layers} stacked {size_text(small)} "
            f"convolutions cover the same field with {stacked:,} ({saving:.0%} fewer; with C channels in and "
            f"out: {taps}C² vs {layers * small_taps}C²)",
            fix=f"replace with {layers} stacked {size_text(small)} convolutions (nonlinearities between), "
                "or make it depthwise + 1×1",
            kernel=list(geometry.kernel), weights=weights, stacked_weights=stacked, stacked_layers=layers,
            saving=round(saving, 4), threshold=threshold,
        )


RULES = [even_kernel, large_kernel]
