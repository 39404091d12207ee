"""Exact multivariate polynomials with rational coefficients, fitted on a tensor grid of points.

No sympy at audit time: a polynomial is ``{exponents: Fraction}`` and prints as a string that
``sympy.sympify`` parses (``3/2*H**2`` is the rational 3/2). Fitting solves the Vandermonde system
exactly (Fractions), one axis at a time, for every cost at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from math import comb, lcm
from typing import Iterable, Mapping, Sequence

Exps = tuple[int, ...]


@dataclass(frozen=True)
class Poly:
    names: tuple[str, ...]
    terms: tuple[tuple[Exps, Fraction], ...]  # non-zero coefficients, highest total degree first

    @classmethod
    def make(cls, names: Sequence[str], coeffs: Mapping[Exps, Fraction]) -> "Poly":
        items = [(e, c if type(c) is Fraction else Fraction(c)) for e, c in coeffs.items() if c]
        items.sort(key=lambda t: (-sum(t[0]), tuple(-x for x in t[0])))
        return cls(tuple(names), tuple(items))

    @classmethod
    def total(cls, names: Sequence[str], polys: "Iterable[Poly]") -> "Poly":
        """The sum of many polynomials, in one pass (``sum()`` would rebuild one per addend)."""
        coeffs: dict[Exps, Fraction] = {}
        for poly in polys:
            for e, c in poly.terms:
                coeffs[e] = coeffs[e] + c if e in coeffs else c
        return cls.make(names, coeffs)

    @cached_property
    def _integer_terms(self) -> tuple[int, list[tuple[Exps, int]]]:
        """(common denominator, integer numerators): evaluation without Fraction arithmetic per term."""
        den = lcm(*(c.denominator for _, c in self.terms)) if self.terms else 1
        return den, [(e, c.numerator * (den // c.denominator)) for e, c in self.terms]

    @classmethod
    def constant(cls, names: Sequence[str], value: int) -> "Poly":
        return cls.make(names, {(0,) * len(names): Fraction(value)})

    def _numerator(self, values: Mapping[str, int]) -> tuple[int, int]:
        """(numerator, common denominator) of the value at ``values``, in integer arithmetic."""
        xs = [values[n] for n in self.names]
        den, terms = self._integer_terms
        total = 0
        for exps, c in terms:
            for x, e in zip(xs, exps):
                if e:
                    c *= x**e
            total += c
        return total, den

    def __call__(self, values: Mapping[str, int]) -> Fraction:
        return Fraction(*self._numerator(values))

    def equals(self, values: Mapping[str, int], number: int) -> bool:
        """``self(values) == number`` without building a Fraction (the verification of every layer)."""
        total, den = self._numerator(values)
        return total == number * den

    def __add__(self, other: "Poly") -> "Poly":
        coeffs: dict[Exps, Fraction] = dict(self.terms)
        for e, c in other.terms:
            coeffs[e] = coeffs.get(e, Fraction(0)) + c
        return Poly.make(self.names, coeffs)

    @property
    def degree(self) -> int:
        return max((sum(e) for e, _ in self.terms), default=0)

    def leading(self) -> "Poly":
        """The terms of highest total degree."""
        top = self.degree
        return Poly(self.names, tuple(t for t in self.terms if sum(t[0]) == top))

    def coefficient(self, exps: Exps) -> Fraction:
        return dict(self.terms).get(exps, Fraction(0))

    def __str__(self) -> str:
        return self._text

    @cached_property
    def _text(self) -> str:
        if not self.terms:
            return "0"
        out = ""
        for exps, c in self.terms:
            text = monomial(self.names, exps)
            sign = "-" if c < 0 else "+"
            mag = abs(c)
            num = str(mag.numerator) if mag.denominator == 1 else f"{mag.numerator}/{mag.denominator}"
            body = num if not text else (text if mag == 1 else f"{num}*{text}")
            out += (("-" if sign == "-" else "") + body) if not out else f" {sign} {body}"
        return out


def monomial(names: Sequence[str], exps: Exps) -> str:
    """('B','L'), (1, 2) -> 'B*L**2'; the empty monomial is ''."""
    return "*".join(n if e == 1 else f"{n}**{e}" for n, e in zip(names, exps) if e)


def finite_difference(values: Sequence[Sequence[int]], order: int) -> list[int]:
    """Δ^order at the first of equally spaced samples, for every component at once."""
    width = len(values[0])
    out = [0] * width
    for j in range(order + 1):
        w = (-1) ** (order - j) * comb(order, j)
        row = values[j]
        for i in range(width):
            out[i] += w * row[i]
    return out


def _inverse_vandermonde(nodes: Sequence[int]) -> list[list[Fraction]]:
    """Rows give the monomial coefficients (power 0..n-1) from the values at ``nodes``."""
    n = len(nodes)
    a = [[Fraction(x) ** p for p in range(n)] + [Fraction(int(i == r)) for i in range(n)] for r, x in enumerate(nodes)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[pivot] = a[pivot], a[col]
        inv = 1 / a[col][col]
        a[col] = [v * inv for v in a[col]]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col]
                a[r] = [v - f * w for v, w in zip(a[r], a[col])]
    return [row[n:] for row in a]


def fit_grid(names: Sequence[str], nodes: Sequence[Sequence[int]],
             values: Mapping[tuple[int, ...], Sequence[int]]) -> list[Poly]:
    """Interpolate every component exactly: ``values[(i0, i1, ...)]`` is the vector at
    ``(nodes[0][i0], nodes[1][i1], ...)``; the degree in dimension k is ``len(nodes[k]) - 1``.

    Integer arithmetic throughout (one common denominator per axis): the vectors hold every layer's
    counts, and Fraction arithmetic on each of them cost more than the counting runs it serves.
    """
    # Components with the same values at every point (a model's repeated blocks) share one fit.
    keys = list(values)
    columns = list(zip(*(values[k] for k in keys)))
    unique: dict[tuple, int] = {}
    index = [unique.setdefault(column, len(unique)) for column in columns]
    if len(unique) < len(columns):
        distinct = list(unique)
        rows = {k: [column[j] for column in distinct] for j, k in enumerate(keys)}
        fitted = fit_grid(names, nodes, rows)
        return [fitted[i] for i in index]
    table: dict[tuple[int, ...], list[int]] = {k: [int(v) for v in vec] for k, vec in values.items()}
    width = len(next(iter(values.values())))
    denominator = 1
    for axis, axis_nodes in enumerate(nodes):
        inv = _inverse_vandermonde(axis_nodes)
        scale = lcm(*(w.denominator for row in inv for w in row))
        weights = [[int(w * scale) for w in row] for row in inv]
        denominator *= scale
        fitted: dict[tuple[int, ...], list[int]] = {}
        for key in table:
            acc = [0] * width
            for j, weight in enumerate(weights[key[axis]]):
                if weight:
                    src = table[key[:axis] + (j,) + key[axis + 1:]]
                    acc = [a + weight * v for a, v in zip(acc, src)]
            fitted[key] = acc
        table = fitted
    return [Poly.make(names, {k: Fraction(vec[i], denominator) for k, vec in table.items() if vec[i]})
            for i in range(width)]
