"""Every number a user gives (budgets, tolerances, shapes, seeds), validated here and only here.

A gate that reads ``nan`` compares false with everything and so never fires; ``1e999`` and TOML's
``inf`` are infinite budgets; a 20,000-digit budget makes a backtracking pattern or ``int()`` run
for a minute. So each number is checked once, before any pattern runs on it: bounded length,
finite, not negative, within a range; a ``ValueError`` carries the reason in one line and the
caller adds where the number came from.
"""
from __future__ import annotations

import math
import re
from typing import Any

MAX_TEXT = 40  # characters: '123,456,789,012,345.5e+12 G' fits; a pasted blob does not
MAX_COUNT = 10**24  # a yotta-count: far above any model, far below float overflow
MAX_SEED = 2**32 - 1  # seeds are mixed into 64-bit generator seeds (seed * 1_000_003 + index)
MAX_DIM = 2**31 - 1  # the largest size torch indexes everywhere
MAX_ELEMENTS = 2**48  # elements of one example input: 256 TiB of float32, meta only

_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12, "P": 10**15}
_COUNT = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]{1,3}))?\s*([KMGBTP]?)$", re.IGNORECASE)


def _text(value: Any) -> str:
    text = str(value).strip().replace("_", "")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{text[:12]}... ({len(text)} characters) is too long for a number")
    return text


def _finite(number: float, original: Any) -> float:
    if math.isnan(number):
        raise ValueError(f"{original!r} is not a number (nan)")
    if math.isinf(number):
        raise ValueError(f"{original!r} is infinite; give a finite limit or leave the budget out")
    return number


def parse_count(value: Any) -> int:
    """'25M', '4.1G', '1.5e9', '300K', 25_000_000 -> int; ValueError with the reason otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, int):
        number: float | int = value
    elif isinstance(value, float):
        number = _finite(value, value)
    else:
        text = _text(value)
        match = _COUNT.match(text)
        if not match:
            raise ValueError(f"cannot parse {value!r} as a count; use a number with an optional "
                             "K/M/G/T suffix, e.g. 25M or 4.1G")
        mantissa, exponent, suffix = match.groups()
        number = _finite(float(f"{mantissa}e{exponent or 0}"), value) * _SUFFIXES[suffix.upper()]
    if number < 0:
        raise ValueError(f"a count cannot be negative: {value!r}")
    if number > MAX_COUNT:
        raise ValueError(f"{value!r} is larger than any model (at most {MAX_COUNT:.0e})")
    return int(round(number))


def parse_fraction(value: Any, *, upper: float | None = None) -> float:
    """'5%', '0.05', 0.05 -> 0.05: finite, not negative, at most ``upper`` when given."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = _text(value)
        percent = text.endswith("%")
        try:
            number = float(text[:-1] if percent else text)
        except ValueError:
            raise ValueError(f"cannot parse {value!r}; use e.g. 0.05 or 5%") from None
        number = number / 100.0 if percent else number
    _finite(number, value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    if upper is not None and number > upper:
        raise ValueError(f"{value!r} is above {upper:g}")
    return number


def parse_percent(value: Any) -> float:
    """'2.5%' or '2.5' (percent either way) -> 0.025; finite, not negative, at most 10^9 percent."""
    text = _text(value)
    try:
        number = float(text[:-1] if text.endswith("%") else text)
    except ValueError:
        raise ValueError(f"cannot parse {value!r}; use a percentage such as 0, 1% or 2.5%") from None
    _finite(number, value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    if number > 1e9:
        raise ValueError(f"{value!r} is too large")
    return number / 100.0


def parse_int(value: Any, *, low: int, high: int, what: str = "value") -> int:
    """An integer in [low, high]; ValueError naming ``what`` otherwise (bools and floats refused)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = _text(value)
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{what} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{what} must be between {low} and {high}, got {number}")
    return number


def check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A tensor shape: every size in [0, 2^31-1], at most 2^48 elements; ValueError otherwise."""
    for size in shape:
        parse_int(size, low=0, high=MAX_DIM, what="a size")
    if math.prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"{math.prod(shape):.3g} elements is more than any example input needs")
    return shape
