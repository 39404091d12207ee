"""Receptive-field text for the terminal: the table's RF column and the summary line."""
from __future__ import annotations

from typing import Any


def format_field(rf: Any) -> str:
    """'7×7 /2', '16×16 /1/2' (fractional stride), 'global', or '' for layers without spatial axes."""
    if rf is None:
        return ""
    if rf == "global":
        return "global"
    size = "×".join(str(s) for s in rf["size"])
    strides = [str(s) for s in rf["stride"]]
    stride = strides[0] if len(set(strides)) == 1 else "×".join(strides)
    return f"{size} /{stride}"


def row_field(layers: list) -> str:
    """A rolled-up row shows the field of its last layer."""
    return format_field(layers[-1].attrs.get("receptive_field")) if layers else ""


def summary_line(final: dict | None) -> str | None:
    """'receptive field: 427×427 at layer4.2.relu@2 covers 224×224 input (100%)'."""
    if not final:
        return None
    if final.get("layer") is None:
        return "receptive field: global (no layer keeps an exact spatial field)"
    pct = "×".join(f"{100 * c:.0f}%" for c in final["coverage"])
    if len(set(final["coverage"])) == 1:
        pct = f"{100 * final['coverage'][0]:.0f}%"
    size = "×".join(map(str, final["size"]))
    extent = "×".join(map(str, final["input"]))
    tail = "; global after it" if final.get("global") else ""
    return f"receptive field: {size} at {final['layer']} covers {extent} input ({pct}){tail}"


def erf_line(erf: dict | None) -> str | None:
    """One line for ``--erf``: the effective field next to the theoretical one."""
    if not erf:
        return None
    theory = erf.get("theoretical")
    theory_text = ("×".join(map(str, theory["size"])) if isinstance(theory, dict) else str(theory))
    return (f"effective receptive field (Luo et al. 2016) at {erf['layer']}: 50% of |input gradient| within "
            f"radius {erf['radius_50']} px, 95% within {erf['radius_95']} px (Chebyshev, around unit "
            f"{erf['unit']}); theoretical field {theory_text}")
