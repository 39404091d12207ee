"""A small table of common accelerators and their nominal memory, for ``--gpu-memory NAME``.

Nominal capacity as sold (HBM/GDDR size in GiB). A process never gets all of it: the CUDA
context (300-600 MiB), the caching allocator's rounding and fragmentation and library workspaces
take some; ``fit.py`` reports the headroom so the reader can judge the margin.
"""
from __future__ import annotations

import re

from ...errors import AuditError

GiB = 2**30
GB = 10**9

GPUS: dict[str, int] = {
    "T4": 16 * GiB,
    "V100-16GB": 16 * GiB,
    "V100-32GB": 32 * GiB,
    "A10": 24 * GiB,
    "A10G": 24 * GiB,
    "L4": 24 * GiB,
    "RTX3090": 24 * GiB,
    "RTX4090": 24 * GiB,
    "A40": 48 * GiB,
    "L40S": 48 * GiB,
    "RTX6000-ADA": 48 * GiB,
    "A100-40GB": 40 * GiB,
    "A100-80GB": 80 * GiB,
    "H100-80GB": 80 * GiB,
    "H100-94GB": 94 * GiB,
    "H200": 141 * GB,
    "B200": 180 * GB,
    "MI250X": 128 * GiB,
    "MI300X": 192 * GiB,
}

_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "KIB": 2**10, "M": 10**6, "MB": 10**6, "MIB": 2**20,
          "G": 10**9, "GB": 10**9, "GIB": 2**30, "T": 10**12, "TB": 10**12, "TIB": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")


def parse_bytes(text: str | int | float) -> int:
    """``80GiB``, ``4GB``, ``512MiB``, ``1.5e9`` -> bytes (GiB/MiB binary, GB/MB decimal)."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"a size cannot be negative: {text!r}")
        return int(text)
    match = _SIZE.match(str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"cannot parse {text!r} as a memory size; use e.g. 80GiB, 24GB or 512MiB")
    return int(round(float(match.group(1)) * _UNITS[unit]))


def gpu_capacity(text: str) -> tuple[int, str]:
    """(bytes, label) for a size (``80GiB``) or a device name from ``GPUS`` (case-insensitive)."""
    key = str(text).strip().upper().replace(" ", "-").replace("_", "-")
    for name, size in GPUS.items():
        if key == name.upper():
            return size, name
    try:
        return parse_bytes(text), str(text)
    except ValueError:
        raise AuditError(f"--gpu-memory {text!r} is neither a size (80GiB, 24GB) nor a known device "
                         f"({', '.join(GPUS)})") from None


def format_bytes(n: int | float | None) -> str:
    """Binary units: 1536 -> '1.50 KiB'."""
    if n is None:
        return "-"
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{sign}{value / scale:.2f} {unit}"
    return f"{sign}{int(value)} B"
