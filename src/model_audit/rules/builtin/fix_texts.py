"""Fix texts written for the layer at hand, not a template: its own type, channels, kernel, stride,
dilation, and the padding that keeps the map size (``d·(k − 1)/2`` per axis for odd windows,
``padding="same"`` where no symmetric padding does)."""
from __future__ import annotations

from ...ir.facts import ConvGeometry
from ...ir.graph import Layer


def _axis_value(values: tuple[int, ...]) -> str:
    """``3`` when every axis agrees, else ``(3, 5)``: how one would write it in the constructor."""
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def size_keeping_padding(geometry: ConvGeometry) -> tuple[int, ...] | None:
    """``d·(k − 1)/2`` per axis when every effective window is odd (it then keeps the size at stride 1 and
    gives ⌈n/s⌉ at stride s); None when some window is even: only ``padding="same"`` (asymmetric) keeps it."""
    extents = [geometry.effective_kernel(axis) for axis in range(len(geometry.kernel))]
    if any(extent % 2 == 0 for extent in extents):
        return None
    return tuple((extent - 1) // 2 for extent in extents)


def conv_call(layer: Layer, geometry: ConvGeometry, **changes: str) -> str:
    """The layer's own constructor (``nn.Conv1d(4, 16, kernel_size=3, dilation=2, padding=2)``) or
    functional call (``F.conv2d(x, weight, padding=1)``) with ``changes`` applied."""
    arguments: dict[str, str] = {}
    if layer.module is not None:
        name = f"nn.{type(layer.module).__name__}"
        head = f"{geometry.in_channels}, {geometry.out_channels}, "
        arguments["kernel_size"] = _axis_value(geometry.kernel)
    else:
        name = f"F.{layer.type.rstrip('_')}"
        head = "x, weight, "
    if any(s != 1 for s in geometry.stride):
        arguments["stride"] = _axis_value(geometry.stride)
    if any(d != 1 for d in geometry.dilation):
        arguments["dilation"] = _axis_value(geometry.dilation)
    if geometry.groups != 1:
        arguments["groups"] = str(geometry.groups)
    if isinstance(geometry.padding, str):
        arguments["padding"] = repr(geometry.padding)
    elif any(geometry.padding):
        arguments["padding"] = _axis_value(geometry.padding)
    arguments.update(changes)
    return f"{name}({head}{', '.join(f'{k}={v}' for k, v in arguments.items())})"


def padding_fix(layer: Layer, geometry: ConvGeometry) -> str:
    """What to write instead of an unpadded convolution, for this layer."""
    padding = size_keeping_padding(geometry)
    kernel = "×".join(map(str, geometry.kernel))
    if padding is not None:
        text = conv_call(layer, geometry, padding=_axis_value(padding))
        why = (f"padding = d·(k−1)/2 = {_axis_value(padding)} keeps the size" if all(s == 1 for s in geometry.stride)
               else f"padding = d·(k−1)/2 = {_axis_value(padding)} gives ⌈n/stride⌉")
        same = " (or padding='same')" if all(s == 1 for s in geometry.stride) else ""
        return f"{text}{same}: for a {kernel} kernel {why}"
    if all(s == 1 for s in geometry.stride):
        return (f"{conv_call(layer, geometry, padding=repr('same'))}: the {kernel} window is even, so no symmetric "
                f"padding keeps the size; or make the kernel odd")
    return f"pad the input (F.pad / nn.ZeroPad{len(geometry.kernel)}d) so the {kernel} windows cover the border"


def odd_kernel_fix(layer: Layer, geometry: ConvGeometry, axes: list[int]) -> str:
    """An odd kernel one smaller on the even axes, with the padding that keeps its size."""
    kernel = tuple(k - 1 if axis in axes else k for axis, k in enumerate(geometry.kernel))
    odd = ConvGeometry(kernel, geometry.stride, geometry.padding, geometry.dilation, geometry.groups,
                       geometry.in_channels, geometry.out_channels, geometry.transposed)
    padding = size_keeping_padding(odd)
    changes = {"kernel_size": _axis_value(kernel)} if layer.module is not None else {}
    if padding is not None:
        changes["padding"] = _axis_value(padding)
    return f"{conv_call(layer, odd, **changes)} (an odd kernel has a centre tap)"


def no_bias_fix(layer: Layer, geometry: ConvGeometry | None, features: tuple[int, int, bool] | None) -> str:
    """The layer's own constructor with ``bias=False``."""
    if geometry is not None:
        return f"{conv_call(layer, geometry, bias='False')}: the BatchNorm's shift β replaces the bias"
    if layer.module is not None and features is not None:
        return f"nn.{type(layer.module).__name__}({features[0]}, {features[1]}, bias=False): the BatchNorm's shift β replaces the bias"
    return "drop the bias argument of the call: the BatchNorm's shift β replaces it"
