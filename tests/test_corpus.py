"""The labelled corpus: user-style model files, each stating which rules must fire on it.

Every file in ``tests/corpus/`` defines a module-level ``model`` and ``input_shape`` (or
``example_inputs()``), as a user's file for ``model-audit FILE`` would, plus labels:

- ``EXPECT``: rule ids that must produce at least one finding (any severity);
- ``SEVERITY`` (optional): ``{rule: "warning"|"error"|"info"}``, the highest severity that rule must reach;
- ``COUNT`` (optional): ``{rule: n}``, the exact number of findings of that rule (one per place it applies);
- ``CONTROLS`` (optional): rule ids that must produce no finding at all, not even info — the near
  misses a rule is documented not to flag (SE gates, patchify stems, p = 0 dropouts, ...);
- ``MODE`` (optional, default "eval") and ``TRACERS`` (optional, default both fx and hooks).

And the contract that no OTHER rule reports a warning or an error on the file. Each file is audited
through the public API under each tracer it lists; a handful also through the CLI (JSON output).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from model_audit import audit
from model_audit.target.loading import load_target
from model_audit.cli.main import main
from model_audit.report.finding import Severity
from model_audit.rules.registry import default_registry

CORPUS_DIR = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS_DIR.glob("*.py"))
RULE_IDS = set(default_registry().rules)
BUILTIN_IDS = {
    "sigmoid-vanishing-gradient", "missing-padding", "dropout-before-batchnorm", "unclipped-rnn",
    "missing-nonlinearity", "bias-before-batchnorm", "softmax-output", "even-kernel", "large-kernel",
    "high-dropout", "batchnorm-small-batch", "feature-map-collapse", "receptive-field-coverage",
}


def _labels(path: Path) -> dict:
    """The labels of a corpus file, read without auditing it."""
    spec = importlib.util.spec_from_file_location(f"_corpus_labels_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        "expect": set(getattr(module, "EXPECT")),
        "severity": dict(getattr(module, "SEVERITY", {})),
        "count": dict(getattr(module, "COUNT", {})),
        "controls": set(getattr(module, "CONTROLS", set())),
        "mode": getattr(module, "MODE", "eval"),
        "tracers": tuple(getattr(module, "TRACERS", ("fx", "hooks"))),
    }


LABELS = {path.stem: _labels(path) for path in FILES}
CASES = [(path, tracer) for path in FILES for tracer in LABELS[path.stem]["tracers"]]


def _audit(path: Path, tracer: str):
    loaded = load_target(str(path))
    labels = LABELS[path.stem]
    inputs = loaded.inputs if loaded.inputs is not None else None
    shape = None if inputs is not None else loaded.input_shape
    return audit(loaded.model, inputs, input_shape=shape, tracer=tracer, mode=labels["mode"], source_path=path)


def _xfail_unregistered(rules: set[str]) -> None:
    missing = sorted(rules - RULE_IDS)
    if missing:
        pytest.xfail(f"rule(s) not implemented yet: {', '.join(missing)}")


def test_corpus_is_large_enough_and_covers_every_rule():
    assert len(FILES) >= 40
    for rule_id in BUILTIN_IDS:
        firing = [stem for stem, labels in LABELS.items() if rule_id in labels["expect"]]
        controls = [stem for stem, labels in LABELS.items() if rule_id in labels["controls"]]
        assert len(firing) >= 2, f"{rule_id}: needs module and functional cases that fire, has {firing}"
        assert controls, f"{rule_id}: needs a control case that must not fire"
    for stem, labels in LABELS.items():
        assert labels["expect"] <= BUILTIN_IDS and labels["controls"] <= BUILTIN_IDS, stem
        assert not labels["expect"] & labels["controls"], stem


@pytest.mark.parametrize("path,tracer", CASES, ids=[f"{p.stem}-{t}" for p, t in CASES])
def test_corpus_file(path: Path, tracer: str):
    labels = LABELS[path.stem]
    _xfail_unregistered(labels["expect"] | labels["controls"])
    report = _audit(path, tracer)
    assert report.tracer == tracer
    assert not [note for note in report.notes if note.startswith("rule ")], report.notes  # no rule crashed
    fired: dict[str, Severity] = {}
    for finding in report.findings:
        fired[finding.rule] = max(fired.get(finding.rule, Severity.INFO), finding.severity)
    described = "\n".join(f"  {f.severity} {f.rule} [{f.layer}] {f.message}" for f in report.findings)
    missing = labels["expect"] - set(fired)
    assert not missing, f"expected {sorted(missing)} to fire; findings:\n{described}"
    unexpected = {rule for rule, severity in fired.items() if severity >= Severity.WARNING} - labels["expect"]
    assert not unexpected, f"unexpected warnings/errors from {sorted(unexpected)}:\n{described}"
    tripped = labels["controls"] & set(fired)
    assert not tripped, f"controls {sorted(tripped)} must not fire:\n{described}"
    for rule, severity in labels["severity"].items():
        assert fired[rule] == Severity.parse(severity), f"{rule}: {fired[rule]} != {severity}\n{described}"
    for rule, count in labels["count"].items():
        places = sum(len(f.data.get("occurrences") or [f]) for f in report.findings if f.rule == rule)  # grouped
        assert places == count, f"{rule}: expected {count} findings\n{described}"
    for finding in report.findings:
        if finding.rule in labels["expect"]:
            assert finding.layer and finding.message and finding.fix


CLI_FILES = ["sigmoid_mlp_module", "padding_functional_deep", "dropout_bn_module", "rnn_unclipped",
             "nonlinearity_head_module", "clean_resnet"]


@pytest.mark.parametrize("stem", CLI_FILES)
def test_corpus_through_cli(stem: str, capsys):
    """``model-audit FILE --format json`` reports exactly the API's findings for the file."""
    path = CORPUS_DIR / f"{stem}.py"
    labels = LABELS[stem]
    _xfail_unregistered(labels["expect"])
    code = main([str(path), "--format", "json", "--fail-on", "never"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert labels["expect"] <= {finding["rule"] for finding in out["findings"]}
    api = _audit(path, "fx" if "fx" in labels["tracers"] else "hooks")
    assert sorted((f["rule"], f["layer"], f["severity"], f["message"]) for f in out["findings"]) == sorted(
        (f.rule, f.layer, str(f.severity), f.message) for f in api.findings)


def test_cli_exit_code_follows_the_worst_finding(capsys):
    """Default --fail-on error: the error-level missing-padding file exits 1, a warning-level file exits 0."""
    assert main([str(CORPUS_DIR / "padding_functional_deep.py"), "--format", "json"]) == 1
    assert main([str(CORPUS_DIR / "padding_module.py"), "--format", "json"]) == 0
    assert main([str(CORPUS_DIR / "padding_module.py"), "--format", "json", "--fail-on", "warning"]) == 1
    capsys.readouterr()
