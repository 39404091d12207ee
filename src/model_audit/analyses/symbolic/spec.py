"""Spelling of a symbolic audit: ``--symbolic B,H=W%32`` and input templates ``B,3,H,W`` / ``B,L:int64``.

A dimension has a name (the formula's variable), aliases tied to it (``H=W``: W always equals H),
an optional base value (``L=128``: the concrete audit's size; default 8 rounded up to the step)
and a step (``%32``: sizes stay in the class ``H ≡ base (mod 32)``, where floor-division costs
such as strided convolutions are exact polynomials).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ...errors import InputSpecError
from ...target.inputs import InputSpec, parse_input_spec

_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_EXAMPLE = "e.g. --symbolic B,L or --symbolic B=1,L=128 or --symbolic B,H=W%32"


@dataclass(frozen=True)
class Dim:
    name: str
    aliases: tuple[str, ...] = ()
    base: int | None = None
    step: int = 1

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def start(self) -> int:
        """The base value: given, else the smallest multiple of the step that is at least 8."""
        if self.base is not None:
            return self.base
        return self.step * max(1, -(-8 // self.step))


@dataclass(frozen=True)
class Template:
    """One input: sizes are ints or dimension names; built into an InputSpec at a point."""

    sizes: tuple[int | str, ...]
    dtype: Any

    def at(self, values: dict[str, int]) -> InputSpec:
        return InputSpec(tuple(values[s] if isinstance(s, str) else s for s in self.sizes), self.dtype)


def parse_dims(text: str) -> list[Dim]:
    """'B,H=W%32' -> [Dim('B'), Dim('H', ('W',), step=32)]; 'L=128' sets a base value."""
    items = [part.strip() for part in str(text).split(",")]
    if not text or not str(text).strip() or any(not item for item in items):
        raise InputSpecError(f"cannot parse --symbolic {text!r}: expected comma-separated names, {_EXAMPLE}")
    dims: list[Dim] = []
    seen: set[str] = set()
    for item in items:
        body, _, step_text = item.partition("%")
        step = 1
        if step_text:
            if not step_text.strip().isdigit() or int(step_text) < 1:
                raise InputSpecError(f"cannot parse --symbolic {text!r}: the step after % in {item!r} must be a "
                                     f"positive integer, {_EXAMPLE}")
            step = int(step_text)
        parts = [p.strip() for p in body.split("=")]
        base = None
        if len(parts) > 1 and parts[-1].isdigit():
            base = int(parts.pop())
        for name in parts:
            if not _NAME.match(name):
                raise InputSpecError(f"cannot parse --symbolic {text!r}: {name!r} is not a dimension name, {_EXAMPLE}")
            if name in seen:
                raise InputSpecError(f"cannot parse --symbolic {text!r}: {name!r} is named twice")
            seen.add(name)
        if base is not None and base < 1:
            raise InputSpecError(f"--symbolic {text!r}: the base of {parts[0]} must be positive")
        dims.append(Dim(parts[0], tuple(parts[1:]), base, step))
    return dims


def parse_template(text: str) -> Template:
    """'B,3,H,W' or 'B,L:int64' -> a Template; plain '1,3,224,224' is a template without names."""
    raw = str(text).strip()
    shape_part, colon, dtype_part = raw.partition(":")
    parts = [p for p in shape_part.replace("x", ",").replace(" ", ",").strip("()[]").split(",") if p]
    sizes: list[int | str] = []
    for part in parts:
        if part.isdigit():
            sizes.append(int(part))
        elif _NAME.match(part):
            sizes.append(part)
        else:
            raise InputSpecError(f"cannot parse --input {raw!r}: {part!r} is neither a size nor a dimension name "
                                 f"(e.g. B,3,H,W or B,L:int64)")
    if not sizes:
        raise InputSpecError(f"cannot parse --input {raw!r}: a shape needs at least one size")
    dtype = parse_input_spec("1" + colon + dtype_part).dtype  # the dtype check and its message
    return Template(tuple(sizes), dtype)


def as_templates(input_shape: Any) -> list[Template]:
    """A template string, a list of them, or tuples mixing ints and names."""
    if isinstance(input_shape, Template):
        return [input_shape]
    if isinstance(input_shape, str):
        return [parse_template(input_shape)]
    if isinstance(input_shape, InputSpec):
        return [Template(tuple(input_shape.shape), input_shape.dtype)]
    if isinstance(input_shape, Sequence) and input_shape and all(isinstance(s, (int, str)) for s in input_shape) \
            and not all(isinstance(s, str) and ("," in s) for s in input_shape):
        return [parse_template(",".join(str(s) for s in input_shape))]
    if isinstance(input_shape, Sequence) and input_shape:
        return [t for item in input_shape for t in as_templates(item)]
    raise InputSpecError(f"a symbolic audit needs input_shape with dimension names, e.g. 'B,3,H,W'; got {input_shape!r}")


def bind(dims: Sequence[Dim], templates: Sequence[Template]) -> list[Template]:
    """Rewrite aliases to their dimension's name; every name in the inputs must be bound and used."""
    alias = {a: d.name for d in dims for a in d.names}
    used: set[str] = set()
    out: list[Template] = []
    for template in templates:
        sizes = []
        for s in template.sizes:
            if isinstance(s, str):
                if s not in alias:
                    raise InputSpecError(f"--input names {s!r} but --symbolic does not; add it, e.g. --symbolic "
                                         f"{','.join([d.name for d in dims] + [s])}")
                used.add(alias[s])
                s = alias[s]
            sizes.append(s)
        out.append(Template(tuple(sizes), template.dtype))
    unused = [d.name for d in dims if d.name not in used]
    if unused:
        raise InputSpecError(f"--symbolic names {', '.join(unused)} but no --input uses it; spell the input with "
                             f"names, e.g. --input {','.join(unused)},3,H,W")
    return out
