"""The op catalogue (``ir/ops.py``) is the only place op-name sets are defined.

Every literal collection (set, frozenset, list, tuple, dict keys, ``"a b c".split()``) anywhere else
in the package that names three or more ops the catalogue knows fails this test: such a set is a
second copy of knowledge that will drift (it did: ``feature_dropout`` was a dropout for the rules and
an elementwise op for the kinds).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import model_audit
from model_audit.ir import ops
from model_audit.ir.kinds import function_kind

PACKAGE = Path(model_audit.__file__).parent
CATALOGUE = PACKAGE / "ir" / "ops.py"
NAMES = ops.catalogue_names()
# Words that are op names but also ordinary values elsewhere (device names, dtypes, modes).
ORDINARY = {"cpu", "cuda", "float", "half", "double", "int", "long", "bool", "to", "size", "dim", "t", "all", "any",
            "max", "min", "sum", "mean", "norm", "index", "select", "copy", "zero", "item", "full", "normal"}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.Dict):
        return [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "split"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
        return node.func.value.value.split()
    return []


def op_sets_outside_catalogue() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == CATALOGUE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [s for s in _strings(node) if s in NAMES and s not in ORDINARY]
            if len(set(names)) >= 3:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {sorted(set(names))[:6]}")
    return found


def test_no_op_name_set_outside_the_catalogue():
    assert op_sets_outside_catalogue() == []


def test_the_check_finds_a_planted_set(tmp_path, monkeypatch):
    """The scan is not vacuous: a set like the ones it replaced is found."""
    planted = tmp_path / "model_audit"
    planted.mkdir()
    (planted / "ir").mkdir()
    (planted / "ir" / "ops.py").write_text("")
    (planted / "rules.py").write_text('_REDUCTIONS = {"prod", "logsumexp", "amax", "argmax"}\n')
    here = sys.modules[__name__]
    monkeypatch.setattr(here, "PACKAGE", planted)
    monkeypatch.setattr(here, "CATALOGUE", planted / "ir" / "ops.py")
    assert len(op_sets_outside_catalogue()) == 1


@pytest.mark.parametrize("name", sorted(ops.DROPOUT))
def test_every_dropout_is_a_dropout_for_every_reader(name):
    from model_audit.ir.facts import op_name  # noqa: F401 - facts read ops.DROPOUT too

    assert function_kind(name, 1) == "dropout"


def test_families_the_kinds_read_are_disjoint_where_kinds_must_be_unique():
    families = {"conv": ops.CONV, "linear": ops.LINEAR, "norm": ops.NORM, "dropout": ops.DROPOUT,
                "activation": ops.ACTIVATIONS, "pool": ops.POOL, "attention": ops.ATTENTION,
                "merge": ops.CONCAT, "embedding": ops.EMBEDDING, "recurrent": ops.RECURRENT}
    for a, left in families.items():
        for b, right in families.items():
            if a < b:
                assert not (left & right), (a, b, left & right)
    for kind, names in families.items():
        for name in names:
            assert function_kind(name, 1) == kind, name
