"""Geometry of one sliding-window layer along one axis, in exact arithmetic.

A layer is a :class:`Window` (kernel, stride, left padding, dilation — fractions where upsampling
or transposed convolutions make them so); :meth:`Window.apply` is the receptive-field recurrence
of Araujo, Norris & Sim (Distill 2019). See docs/receptive-field.md for the conventions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

Key = tuple[str, int]  # (graph input or tensor the axis is counted in, dimension)


class Unsure(Exception):
    """The analysis cannot follow this op: the result is opaque (rendered as None)."""


@dataclass(frozen=True)
class Axis:
    """The field of unit 0 along one input axis, in that axis' pixels."""

    key: Key
    size: Fraction
    stride: Fraction
    start: Fraction

    def union(self, other: "Axis") -> "Axis":
        lo = min(self.start, other.start)
        hi = max(self.start + self.size, other.start + other.size)
        return Axis(self.key, hi - lo, self.stride, lo)

    @property
    def centre(self) -> Fraction:
        return self.start + (self.size - 1) / 2


@dataclass(frozen=True)
class Window:
    """One axis of a sliding window: kernel, stride, left padding, dilation (all in input units)."""

    kernel: Fraction
    stride: Fraction
    pad: Fraction
    dilation: Fraction = Fraction(1)

    def apply(self, axis: Axis) -> Axis:
        return Axis(axis.key, axis.size + (self.kernel - 1) * self.dilation * axis.stride,
                    axis.stride * self.stride, axis.start - self.pad * axis.stride)


def _tuple(value: Any, n: int, default: Any = None) -> tuple:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        value = default
    if isinstance(value, (list, tuple)):
        value = tuple(value)
        if len(value) == 1 and n > 1:
            value = value * n
        return value[-n:] if len(value) >= n else value
    return (value,) * n


def conv_windows(kernel: Sequence[int], stride: Any, padding: Any, dilation: Any) -> list[Window]:
    """Windows of a convolution/pooling; ``padding`` may be int, tuple, "same" or "valid"."""
    n = len(kernel)
    dil = _tuple(dilation, n, 1)
    stride_t = _tuple(stride, n, kernel)
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0,) * n
        elif padding == "same":  # PyTorch pads total d(k-1), the smaller half on the left
            pads = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dil))
        else:
            raise Unsure(f"padding {padding!r}")
    else:
        pads = _tuple(padding, n, 0)
    return [Window(Fraction(k), Fraction(s), Fraction(p), Fraction(d))
            for k, s, p, d in zip(kernel, stride_t, pads, dil)]


def transposed_windows(kernel: Sequence[int], stride: Any, padding: Any, dilation: Any) -> list[Window]:
    """A transposed conv as s-fold zero-insertion upsampling then a stride-1 conv (see the docs)."""
    n = len(kernel)
    dil, strides, pads = _tuple(dilation, n, 1), _tuple(stride, n, 1), _tuple(padding, n, 0)
    return [Window(Fraction(k), Fraction(1, s), Fraction(d * (k - 1) - p, s), Fraction(d, s))
            for k, s, p, d in zip(kernel, strides, pads, dil)]


def adaptive_window(n_in: int, n_out: int) -> Window:
    """Adaptive pooling: output ``i`` reads ``[floor(i·n/o), ceil((i+1)·n/o))``; stride n/o and the
    smallest window (closed-interval convention) holding every unit's range — exact when o divides n."""
    if n_in % n_out == 0:
        k = n_in // n_out
        return Window(Fraction(k), Fraction(k), Fraction(0))
    step = Fraction(n_in, n_out)
    slack = max(i * step - math.floor(i * step) for i in range(n_out))
    reach = max(-(-(i + 1) * n_in // n_out) - 1 - (i * step - slack) for i in range(n_out))
    return Window(reach + 1, step, slack)


def _slack(step: Fraction, offset: Fraction) -> Fraction:
    """max over units o of frac(o·step + offset): how far floor() can fall below the sample point."""
    period = 2 * step.denominator * max(offset.denominator, 1)
    return max((o * step + offset) - math.floor(o * step + offset) for o in range(period))


def resample_window(mode: str, n_in: int, n_out: int, align_corners: bool | None,
                    scale: float | None = None) -> Window:
    """Interpolation as a window over its input (closed-interval convention, see the docs).

    Output ``o`` samples at ``x = o·step + offset`` (``step`` = n_in/n_out, or 1/scale_factor;
    ``offset`` = step/2 - 1/2 for half-pixel modes) and reads pixels ``floor(x) - b .. floor(x) + a``
    (nearest: b = a = 0; linear: a = 1; cubic: b = 1, a = 2). With ``D`` the largest fractional
    part of ``x`` over all units, the read pixels lie in ``[x - D - b, x + a]``: a window of
    kernel ``1 + D + a + b``, stride ``step``, left padding ``D + b - offset``.
    """
    if mode == "area":
        return adaptive_window(n_in, n_out)
    if align_corners:
        step = Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(0)
        offset = Fraction(0)
    else:
        step = Fraction(1) / Fraction(scale).limit_denominator(10**6) if scale else Fraction(n_in, n_out)
        offset = Fraction(0) if mode == "nearest" else step / 2 - (0 if mode in ("nearest-exact", "nearest_exact")
                                                                   else Fraction(1, 2))
    before, after = {"nearest": (0, 0), "nearest-exact": (0, 0), "nearest_exact": (0, 0), "linear": (0, 1),
                     "bilinear": (0, 1), "trilinear": (0, 1), "bicubic": (1, 2)}.get(mode, (None, None))
    if before is None:
        raise Unsure(f"interpolation mode {mode!r}")
    slack = _slack(step, offset) if step else Fraction(0)
    return Window(1 + slack + before + after, step, slack + before - offset)
