"""model-audit's built-in rules, registered through the same entry point a third party uses."""
from __future__ import annotations

from ..spec import hookimpl

# Each family module defines ``RULES``: a list of Rule objects.
_FAMILIES = [
    "recurrent", "output_head", "kernel_size", "dropout_rate", "batch_statistics", "spatial_collapse",
    "saturation", "padding", "norm_inputs", "affine", "receptive_field", "measured",
]


@hookimpl
def model_audit_rules() -> list:
    import importlib

    rules = []
    for family in _FAMILIES:
        rules.extend(importlib.import_module(f"{__name__}.{family}").RULES)
    return rules
