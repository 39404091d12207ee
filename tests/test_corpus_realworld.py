"""The real-world corpus (issue 12): user-style projects in the shapes public repositories use, each a
folder with ``model.py`` (the model and its labels) and, where the case needs one, ``train.py`` and the
sibling modules it imports (parsed by the audit, never run).

Labels in ``model.py``, as in ``tests/corpus``: ``EXPECT`` (rules that must fire), ``CONTROLS`` (rules
that must not fire at all), ``SEVERITY`` (the highest severity the rule reaches), and:

- ``MESSAGE``: ``{rule: text}`` the rule's message must contain;
- ``FIX``: ``{rule: text}`` the rule's fix must contain (fix texts are built from the layer);
- ``NOT_IN_FIX``: ``{rule: text}`` no fix of the rule may contain;
- ``LINES``: ``{rule: text}`` the source line every finding of the rule points at must contain.

And for every file: no other rule warns, and no finding points outside the project's folder.
"""
from __future__ import annotations

import importlib.util
import linecache
from pathlib import Path

import pytest

from model_audit import audit
from model_audit.report.finding import Severity
from model_audit.target.loading import load_target
from model_audit.render.locations import split_source

CORPUS = Path(__file__).parent / "corpus_realworld"
CASES = sorted(path.parent for path in CORPUS.glob("*/model.py"))


def labels(case: Path) -> dict:
    spec = importlib.util.spec_from_file_location(f"_realworld_labels_{case.name}", case / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {key.lower(): getattr(module, key, default) for key, default in (
        ("EXPECT", set()), ("CONTROLS", set()), ("SEVERITY", {}), ("MESSAGE", {}), ("FIX", {}),
        ("NOT_IN_FIX", {}), ("LINES", {}))}


def run(case: Path):
    loaded = load_target(str(case / "model.py"))
    train = case / "train.py"
    return audit(loaded.model, loaded.inputs, input_shape=None if loaded.inputs is not None else loaded.input_shape,
                 source_path=case / "model.py", train_script=train if train.exists() else None)


def test_the_corpus_covers_every_point_of_the_issue():
    names = {case.name for case in CASES}
    for needed in ("rnn_alias_import", "rnn_helper_sibling", "rnn_hf_trainer", "rnn_lightning_factory",
                   "dropout_mc", "dropout_densenet_hotfix", "textcnn_kim", "policy_head_reinforce",
                   "pinn_burgers", "rnn_lstmcell_loop"):
        assert needed in names


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_realworld_case(case: Path):
    label = labels(case)
    report = run(case)
    assert not [note for note in report.notes if note.startswith("rule ")], report.notes
    described = "\n".join(f"  {f.severity} {f.rule} [{f.layer}] {f.source} {f.message} | fix: {f.fix}"
                          for f in report.findings)
    fired: dict[str, Severity] = {}
    for finding in report.findings:
        fired[finding.rule] = max(fired.get(finding.rule, Severity.INFO), finding.severity)
    assert label["expect"] <= set(fired), f"expected {label['expect']}:\n{described}"
    assert not label["controls"] & set(fired), f"controls {label['controls']} fired:\n{described}"
    warned = {rule for rule, severity in fired.items() if severity >= Severity.WARNING}
    assert warned <= label["expect"], f"unexpected warnings:\n{described}"
    for rule, severity in label["severity"].items():
        assert fired[rule] == Severity.parse(severity), described
    for finding in report.findings:
        rule = finding.rule
        if rule in label["message"]:
            assert label["message"][rule] in finding.message, described
        if rule in label["fix"]:
            fixes = [o["fix"] for f in report.findings if f.rule == rule for o in f.data.get("occurrences") or [vars(f)]]
            assert any(label["fix"][rule] in fix for fix in fixes), described
        if rule in label["not_in_fix"]:
            assert label["not_in_fix"][rule] not in finding.fix, described
        path, line = split_source(finding.source)
        if path is not None:  # never outside the user's project (site-packages/torch, ...)
            assert Path(path).resolve().is_relative_to(case.resolve()), described
        if rule in label["lines"]:
            assert path is not None and line is not None, described
            assert label["lines"][rule] in linecache.getline(str(path), line), described
