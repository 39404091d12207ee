"""Feature maps that shrink below the kernels and pools that follow them."""
from __future__ import annotations

import math
from typing import Iterable

from ...ir import ops
from ...ir.graph import Layer, LayerGraph
from ...report.finding import Finding
from ..base import RuleContext, rule
from ...ir.facts import conv_geometry, op_name, pool_geometry, spatial_shape
from ._layers import effective_kernel, pool_window, size_text



def _below_kernel(layer: Layer) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(input spatial size, effective kernel) when some axis of the input is smaller than the kernel."""
    spatial = spatial_shape(layer)
    if spatial is None:
        return None
    conv = conv_geometry(layer)
    if conv is not None:
        if conv.transposed:
            return None
        kernel = effective_kernel(conv)
    else:
        pool = pool_geometry(layer)
        if pool is None or pool.adaptive:
            return None
        kernel = pool_window(pool)
    if len(kernel) != len(spatial):
        return None
    if any(1 < k and n < k for n, k in zip(spatial, kernel)):
        return spatial, kernel
    return None


def _global_on_point(layer: Layer) -> tuple[int, ...] | None:
    """The input size when a global/adaptive pooling (or a mean over the spatial axes) gets a 1×…×1 map."""
    pool = pool_geometry(layer)
    if pool is not None and pool.adaptive:
        spatial = spatial_shape(layer)
        return spatial if spatial and math.prod(spatial) == 1 else None
    if layer.module is None and op_name(layer) in ops.SPATIAL_REDUCTIONS and layer.input_shapes:
        shape = layer.input_shapes[0]
        dims = layer.arguments.get("dim", layer.arguments.get("arg1"))
        if len(shape) not in (4, 5) or dims is None:
            return None
        dims = {d % len(shape) for d in (dims if isinstance(dims, (list, tuple)) else [dims])}
        if dims == set(range(2, len(shape))) and math.prod(shape[2:]) == 1:
            return tuple(shape[2:])
    return None


def _collapse_point(layer: Layer, layers: dict[str, Layer], rank: int) -> Layer | None:
    """Walk back along first inputs to the layer that turned a larger map into a 1×…×1 one."""
    current: Layer | None = layer
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        shape = current.input_shapes[0] if current.input_shapes else ()
        if current is not layer and len(shape) == rank + 2 and math.prod(shape[2:]) > 1:
            return current
        data = [n for n in current.inputs if n in layers and layers[n].kind != "parameter"]
        current = layers[data[0]] if data else None
    return None


def _covers_input(layer: Layer) -> bool:
    """Whether the layer's window spans its whole (unpadded) input: a deliberate global step
    (a valid k = n convolution, an adaptive pool), not a stride that skipped positions."""
    spatial = spatial_shape(layer)
    conv = conv_geometry(layer)
    if conv is not None and spatial is not None:
        return all(conv.effective_kernel(a) >= n and conv.pad(a) == 0 for a, n in enumerate(spatial))
    pool = pool_geometry(layer)
    if pool is not None and spatial is not None:
        if pool.adaptive:
            return True
        return all(k >= n and p == 0 for k, n, p in zip(pool.kernel, spatial, pool.padding or (0,) * len(spatial)))
    return False


def _input_spatial(graph: LayerGraph, rank: int) -> tuple[int, ...] | None:
    for shape in graph.input_shapes:
        if len(shape) == rank + 2:
            return tuple(shape[2:])
    return None


def _descendants(name: str, consumers: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(consumers.get(name, []))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(consumers.get(current, []))
    return seen


@rule(
    id="feature-map-collapse",
    severity="warning",
    summary="A feature map shrinks below a following kernel, or to 1×1 before global pooling",
    fix_hint="remove a downsampling stage, or feed a larger input",
    what="""
A convolution or pooling layer whose input is smaller than its kernel along some spatial axis
(e.g. a 3×3 convolution on a 2×2 or 1×1 map), or a global/adaptive pooling (or a mean over the
spatial axes) that receives a map a strided layer already collapsed to 1×1 by skipping positions.
Not flagged: a trunk that ends in a 1×1 map with no spatial layer after it (a DCGAN discriminator's
valid 4×4 convolution), a valid convolution or pooling whose window spans its whole input followed
by a no-op global pooling (Inception's auxiliary head), squeeze-excitation pooling. Reported once,
at the first such layer on each path; the message counts the affected layers after it. Sizes are
those of the audited input, so audit at the resolution you train at.
""",
    why="""
Each stride-`s` stage divides the map: `n_out = ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1`. A model built for
224×224 inputs (five stride-2 stages: 224 → 7) applied to 32×32 CIFAR images reaches 1×1 after the
fifth stage. A k×k kernel on a map smaller than k reads mostly zero padding: on a 1×1 map a 3×3
convolution uses only its centre tap, so 8/9 of its weights get no gradient while still costing
memory; the layers after the collapse cannot see spatial structure and the global pooling averages
a single position.
""",
    example="""
```python
model = torchvision.models.resnet18(num_classes=10)   # audited at 1×3×32×32
# layer3.0.conv2: input map 2×2 is smaller than the 3×3 kernel; 7 later layers see collapsed maps
# (layer3.1 on 2×2, layer4 on 1×1 maps, avgpool averages one position)
```
""",
    fix="""
Remove a downsampling stage for small inputs (CIFAR ResNets use a 3×3 stride-1 stem and no max
pool), upsample the input, or end the convolutional trunk where the map is still at least as large
as the kernels.
""",
)
def feature_map_collapse(graph: LayerGraph, ctx: RuleContext) -> Iterable[Finding]:
    offending: dict[str, str] = {}
    data: dict[str, dict] = {}
    layers = graph.by_name()
    for layer in graph:
        small = _below_kernel(layer)
        if small is not None:
            spatial, kernel = small
            origin = _input_spatial(graph, len(spatial))
            offending[layer.name] = (f"input map {size_text(spatial)} is smaller than the {size_text(kernel)} kernel "
                                     f"(threshold: map ≥ kernel)" +
                                     (f"; the model input is {size_text(origin)}" if origin else ""))
            data[layer.name] = {"input_size": list(spatial), "kernel": list(kernel)}
            continue
        point = _global_on_point(layer)
        if point is not None:
            origin = _input_spatial(graph, len(point))
            if origin is None or math.prod(origin) == 1:
                continue  # the model's input was 1×1 already: nothing collapsed
            collapse = _collapse_point(layer, layers, len(point))
            if collapse is None or _covers_input(collapse):
                continue  # e.g. Inception's aux head: a valid 5×5 conv on 5×5, then a no-op global pool
            out = layer.output_shapes[0][2:] if layer.output_shapes and len(layer.output_shapes[0]) > 2 else ()
            what = (f"adaptive pooling to {size_text(out)} copies it" if math.prod(out) > 1 else "global pooling averages it")
            offending[layer.name] = (f"receives a {size_text(point)} map and {what}: '{collapse.name}' "
                                     f"({collapse.type}) reduced {size_text(collapse.input_shapes[0][2:])} to one position "
                                     f"by skipping positions (threshold: map > 1×1 before global pooling; "
                                     f"model input {size_text(origin)})")
            data[layer.name] = {"input_size": list(point), "kernel": None, "collapsed_at": collapse.name}
    if not offending:
        return
    consumers = graph.consumers()
    tainted: set[str] = set()
    for layer in graph:  # topological order: a layer downstream of an offender is not reported again
        if any(src in offending or src in tainted for src in layer.inputs):
            tainted.add(layer.name)
    for name, message in offending.items():
        if name in tainted:
            continue
        after = sorted(n for n in _descendants(name, consumers) if n in offending)
        suffix = f"; {len(after)} later layer(s) see collapsed maps too" if after else ""
        yield ctx.finding(layers[name], message + suffix, affected_layers=after, **data[name])


RULES = [feature_map_collapse]
