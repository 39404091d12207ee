"""Targets: "file.py[:name]" or "pkg.mod:name" -> model + example inputs; input specs -> tensors.

:func:`load` is the one place that decides what the model is audited on: ``--input`` specs (or a
target's ``inputs``) when given, else the file's ``example_inputs()``, else its ``input_shape``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from .inputs import parse_input_spec
from .loading import LoadedTarget, load_target


def load(target: str, input_specs: Sequence[str] | None = None, *, trust_remote_code: bool = False) -> LoadedTarget:
    """The model of ``target`` with what to audit it on: the given ``input_specs`` win over the file's own.

    ``trust_remote_code`` lets an ``hf:`` target run the custom model code its config names.
    """
    specs = [parse_input_spec(text) for text in input_specs] if input_specs else None  # bad specs fail first
    loaded = load_target(target, trust_remote_code=trust_remote_code)
    if specs:
        return replace(loaded, inputs=None, input_shape=specs)
    if loaded.inputs is not None:
        return replace(loaded, input_shape=None)
    return loaded


__all__ = ["LoadedTarget", "load", "load_target", "parse_input_spec"]
