"""Live memory over the step, downsampled for a chart without losing what a reader looks for.

The tracker samples the live bytes and the phase at every tick (one per ATen op, one per phase
boundary); a LLaMA step has ~10^5 of them. ``downsample`` keeps at most ``limit`` points: the
first and last point, the first and last point of every phase run, and the exact peak (so the
timeline's maximum *is* ``peak_bytes``, in ``peak_phase``), then fills the budget with each
bucket's highest and lowest point (min/max decimation: spikes and frees both stay visible).
"""
from __future__ import annotations

from typing import Any, Sequence

MAX_POINTS = 300


def downsample(samples: Sequence[tuple[int, str]], peak_index: int, limit: int = MAX_POINTS) -> list[dict[str, Any]]:
    """``[{"op", "bytes", "phase"}]`` from the tracker's per-tick ``(bytes, phase)`` samples.

    ``op`` is the tick the point was sampled at (1-based, the tracker's clock); ``peak_index`` is
    the 0-based sample holding the peak (its first occurrence).
    """
    n = len(samples)
    if n == 0:
        return []
    keep = {0, n - 1}
    if 0 <= peak_index < n:
        keep.add(peak_index)
    for i in range(1, n):
        if samples[i][1] != samples[i - 1][1]:  # a phase boundary: last point of one run, first of the next
            keep.update((i - 1, i))
    spare = max(0, limit - len(keep))
    if n > len(keep) and spare >= 2:
        buckets = spare // 2
        size = n / buckets
        for b in range(buckets):
            lo, hi = int(b * size), min(n, int((b + 1) * size))
            if lo >= hi:
                continue
            span = range(lo, hi)
            keep.add(max(span, key=lambda i: (samples[i][0], -i)))  # the first highest point
            keep.add(min(span, key=lambda i: (samples[i][0], i)))
    return [{"op": i + 1, "bytes": samples[i][0], "phase": samples[i][1]} for i in sorted(keep)]


__all__ = ["MAX_POINTS", "downsample"]
