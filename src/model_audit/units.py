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
