"""The keys ``[tool.model-audit]`` accepts: a misspelled key is an error, never a budget that vanishes.

``max-parms = "25M"`` read as "someone else's key" would silently drop the gate, so every key of
the table is checked against this list and an unknown one names the nearest valid key (difflib).
"""
from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

# Rule settings (rules/settings.py), the check command's targets (cli/check.py); budgets are added
# from the Budget dataclass so a new limit is accepted without touching this list.
_SETTINGS_KEYS = ("select", "ignore", "severity", "per-layer-ignores", "options", "fail-on", "targets")


def known_keys() -> set[str]:
    from .report.budget import Budget

    return set(_SETTINGS_KEYS) | {"max-" + f.name.replace("_", "-") for f in fields(Budget)}


def check_keys(table: Mapping[str, Any], path: Path) -> None:
    """Raise ConfigError (exit 2) for the first unknown key, naming the nearest valid one."""
    from .config import ConfigError

    known = known_keys()
    for key in table:
        if key in known:
            continue
        near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(sorted(known))}"
        raise ConfigError(f"{path} [tool.model-audit]: unknown key '{key}'{hint}")
