"""Human units for counts: formatting (``25.6M``) and parsing budgets (``"25M"``, ``"4.1G"``, ``1.5e9``)."""
from __future__ import annotations

import re

from . import numbers

_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12, "P": 10**15}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGBTP]?)\s*$", re.IGNORECASE)


def format_count(value: int | float | None, precision: int = 2) -> str:
    """Format a count with a decimal suffix: 25557032 -> '25.56M'."""
    if value is None:
        return "-"
    value = float(value)
    for suffix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{precision}f}{suffix}"
    return f"{int(value)}" if value == int(value) else f"{value:.{precision}f}"


def parse_count(text: str | int | float) -> int:
    """Parse '25M', '4.1G', '1.5e9', '300K' or a number into an int; ValueError with the reason otherwise.

    Validation (finite, not negative, bounded length and size) lives in :mod:`model_audit.numbers`.
    """
    return numbers.parse_count(text)


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


_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "KIB": 2**10, "M": 10**6, "MB": 10**6, "MIB": 2**20,
          "G": 10**9, "GB": 10**9, "GIB": 2**30, "T": 10**12, "TB": 10**12, "TIB": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")


def parse_bytes(text: str | int | float) -> int:
    """``80GiB``, ``4GB``, ``512MiB``, ``1.5e9`` -> bytes (GiB/MiB binary, GB/MB decimal)."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, (int, float)):
        if text != text or text in (float("inf"), float("-inf")) or abs(text) > 2**80:
            raise ValueError(f"not a usable size: {text!r}")
        if text < 0:
            raise ValueError(f"a size cannot be negative: {text!r}")
        return int(text)
    if len(str(text)) > 40:
        raise ValueError(f"a size of {len(str(text))} characters is not a usable size; use e.g. 80GiB")
    match = _SIZE.match(str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"cannot parse {text!r} as a memory size; use e.g. 80GiB, 24GB or 512MiB")
    return int(round(float(match.group(1)) * _UNITS[unit]))
