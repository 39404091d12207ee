"""docs/flops.md embeds the cost registry's own table: the page cannot drift from the formulas."""
from __future__ import annotations

from pathlib import Path

from model_audit.analyses import costs

DOC = Path(__file__).resolve().parents[2] / "docs" / "flops.md"


def test_flops_doc_embeds_the_generated_registry_table():
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(costs.DOC_BEGIN), text.index(costs.DOC_END) + len(costs.DOC_END)
    assert text[start:end] == costs.formulas_markdown(), (
        "docs/flops.md is out of date: replace its generated block with `python -m model_audit.analyses.costs`")


def test_every_registered_formula_is_in_the_table():
    table = costs.formulas_markdown()
    for packet, origin in costs.ORIGINS.items():
        if origin == costs.BUILTIN:
            assert f"`{costs.op_name(packet)}`" in table
