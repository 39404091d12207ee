"""The rules framework's surfaces: registry, selection, config precedence, suppressions, exit codes, docs."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch.nn as nn

from model_audit import Finding, Severity, audit, hookimpl, rule
from model_audit.cli.main import main
from model_audit.config import ConfigError, load_config
from model_audit.rules import docs
from model_audit.rules.docs import builtin_rules, rules_markdown
from model_audit.rules.registry import build_registry, default_registry
from model_audit.rules.settings import RuleSettings

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_IDS = {  # the public contract
    "sigmoid-vanishing-gradient", "missing-padding", "dropout-before-batchnorm", "unclipped-rnn",
    "missing-nonlinearity", "bias-before-batchnorm", "softmax-output", "even-kernel", "large-kernel",
    "high-dropout", "batchnorm-small-batch", "feature-map-collapse",
}
MINE = "even-kernel,large-kernel,high-dropout,batchnorm-small-batch"

# Three findings of known severities: large-kernel (info) at "2", even-kernel (warning) at "4",
# high-dropout (warning) at "head.1"; BatchNorm1d at "head.3" sees N values per channel.
MODEL = """
import torch.nn as nn

model = nn.Sequential()
model.add_module("0", nn.Conv2d(3, 16, 3, padding=1))
model.add_module("1", nn.ReLU())
model.add_module("2", nn.Conv2d(16, 16, 7, padding=3))
model.add_module("3", nn.ReLU())
model.add_module("4", nn.Conv2d(16, 16, 4, padding=2))
model.add_module("5", nn.ReLU())
model.add_module("head", nn.Sequential(nn.Flatten(), nn.Dropout(0.8), nn.Linear(16 * 17 * 17, 32),
                                       nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)))
input_shape = (4, 3, 16, 16)
"""


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    """The model file in an empty directory (no pyproject.toml above the cwd's own is read)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    return path


def pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(body))
    return path


def run_json(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    findings = json.loads(out)["findings"] if code in (0, 1) else []
    return code, findings, err


def ids(findings: list[dict]) -> dict[str, tuple[str, str]]:
    return {f["rule"]: (f["severity"], f["layer"]) for f in findings}


# -- registry and documentation


def test_builtin_rules_are_registered_through_the_entry_point():
    registry = build_registry()
    assert PUBLIC_IDS <= set(registry.rules)
    assert registry.manager.get_plugin("builtin") is not None
    for r in registry:
        assert r.plugin, r.id
        doc = r.doc
        assert doc.what and doc.why and doc.example and doc.fix, r.id
        assert r.fix_hint and r.summary and not r.summary.endswith("."), r.id
        assert set(r.option_help) == set(r.options), f"{r.id}: every option needs help text"


def test_rule_ids_must_be_kebab_case():
    with pytest.raises(ValueError, match="kebab-case"):
        rule(id="Bad_Id", severity="info", summary="s", what="w", why="y", example="e", fix="f")(lambda g, c: [])


def test_docs_rules_md_is_up_to_date():
    generated = rules_markdown(builtin_rules())
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == generated, "regenerate: python -m model_audit.rules.docs > docs/rules.md"
    for rule_id in PUBLIC_IDS:
        assert f"## `{rule_id}`" in committed


def test_rules_command_lists_and_documents(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for r in default_registry():
        line = next(line for line in out.splitlines() if line.startswith(r.id + " "))
        assert str(r.severity) in line and r.plugin in line and r.summary[:40] in line
    assert main(["rules", "large-kernel"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("# `large-kernel`") and "## Why it matters" in page and "min-kernel" in page
    assert main(["rules", "no-such-rule"]) == 2
    assert "unknown rule 'no-such-rule'" in capsys.readouterr().err
    assert main(["rules", "--markdown"]) == 0
    assert capsys.readouterr().out == rules_markdown(builtin_rules())


def test_docs_module_main_prints_the_page(capsys):
    assert docs.main() == 0  # what `python -m model_audit.rules.docs > docs/rules.md` runs
    assert capsys.readouterr().out == rules_markdown(builtin_rules())


# -- selection, severity, suppression, exit codes through the CLI


def test_findings_in_json_and_table(model_file, capsys):
    code, findings, _ = run_json(capsys, str(model_file), "--select", MINE)
    assert code == 0  # warnings and info only; default --fail-on error
    assert ids(findings) == {"large-kernel": ("info", "2"), "even-kernel": ("warning", "4"),
                             "high-dropout": ("warning", "head.1")}
    dropout = next(f for f in findings if f["rule"] == "high-dropout")
    assert set(dropout) == {"rule", "severity", "layer", "message", "fix", "source", "data"}
    assert dropout["data"] == {"p": 0.8, "threshold": 0.5} and "0.8" in dropout["message"]
    assert dropout["source"].endswith(".py:" + dropout["source"].rsplit(":", 1)[1])
    assert main([str(model_file), "--select", MINE]) == 0
    table = capsys.readouterr().out
    block = table[table.index("findings: "):]
    assert block.splitlines()[0] == "findings: 2 warnings, 1 info"
    assert "even-kernel  4" in block and "fix: " in block


def test_select_ignore_and_prefixes(model_file, capsys):
    _, findings, _ = run_json(capsys, str(model_file), "--select", "high-,even-kernel")
    assert set(ids(findings)) == {"high-dropout", "even-kernel"}
    _, findings, _ = run_json(capsys, str(model_file), "--select", MINE, "--ignore", "even-,large-kernel")
    assert set(ids(findings)) == {"high-dropout"}
    _, findings, _ = run_json(capsys, str(model_file), "--no-rules")
    assert findings == []


@pytest.mark.parametrize("fail_on, expected", [("never", 0), ("error", 0), ("warning", 1), ("info", 1)])
def test_fail_on_sets_exit_code(model_file, capsys, fail_on, expected):
    assert main([str(model_file), "--select", MINE, "--fail-on", fail_on]) == expected
    capsys.readouterr()


def test_info_only_fails_at_info(model_file, capsys):
    assert main([str(model_file), "--select", "large-kernel", "--fail-on", "warning"]) == 0
    assert main([str(model_file), "--select", "large-kernel", "--fail-on", "info"]) == 1
    capsys.readouterr()


def test_pyproject_settings_apply(model_file, capsys):
    pyproject(model_file.parent, f"""
        [tool.model-audit]
        select = {json.dumps(MINE.split(","))}
        ignore = ["large-kernel"]
        fail-on = "warning"

        [tool.model-audit.severity]
        even-kernel = "error"

        [tool.model-audit.options.high-dropout]
        threshold = 0.9

        [tool.model-audit.options.batchnorm-small-batch]
        batch-size = 2
    """)
    code, findings, _ = run_json(capsys, str(model_file))
    # high-dropout silenced by its threshold (0.8 <= 0.9); BatchNorm1d on [N, 32]: 2 values per channel
    assert ids(findings) == {"even-kernel": ("error", "4"), "batchnorm-small-batch": ("warning", "head.3")}
    assert code == 1
    bn = next(f for f in findings if f["rule"] == "batchnorm-small-batch")
    assert bn["data"] == {"values_per_channel": 2, "batch_size": 2, "threshold": 8}


def test_cli_overrides_pyproject(model_file, capsys):
    pyproject(model_file.parent, """
        [tool.model-audit]
        select = ["large-kernel"]
        ignore = ["high-dropout"]
        fail-on = "info"
    """)
    code, findings, _ = run_json(capsys, str(model_file))
    assert set(ids(findings)) == {"large-kernel"} and code == 1
    code, findings, _ = run_json(capsys, str(model_file), "--select", MINE, "--ignore", "large-kernel",
                                 "--fail-on", "never")
    assert set(ids(findings)) == {"even-kernel", "high-dropout"} and code == 0


def test_explicit_config_file(model_file, tmp_path, capsys):
    other = tmp_path / "conf"
    other.mkdir()
    path = pyproject(other, """
        [tool.model_audit]
        select = ["high-dropout"]
        fail_on = "warning"
    """)
    code, findings, _ = run_json(capsys, str(model_file), "--config", str(path))
    assert set(ids(findings)) == {"high-dropout"} and code == 1


def test_per_layer_ignores(model_file, capsys):
    pyproject(model_file.parent, f"""
        [tool.model-audit]
        select = {json.dumps(MINE.split(","))}

        [tool.model-audit.per-layer-ignores]
        "head.*" = ["ALL"]
        "[0-9]" = ["even-kernel"]
    """)
    _, findings, _ = run_json(capsys, str(model_file))
    assert ids(findings) == {"large-kernel": ("info", "2")}


@pytest.mark.parametrize("body, message", [
    ('fail-on = "sometimes"', "fail-on: 'sometimes' is not one of info, warning, error, never"),
    ('select = 3', "select: expected a list of strings, got 3"),
    ('select = ["high-dropuot"]', "select: unknown rule 'high-dropuot'"),
    ('ignore = ["nonexistent-"]', "ignore: unknown rule 'nonexistent-'"),
    ('[tool.model-audit.severity]\nhigh-dropout = "loud"', "severity.high-dropout: unknown severity 'loud'"),
    ('[tool.model-audit.per-layer-ignores]\n"x" = ["typo-rule"]', "per-layer-ignores: unknown rule 'typo-rule'"),
    ('[tool.model-audit.options.high-dropout]\nthreshold = "high"',
     "options.high-dropout.threshold: expected a number, got 'high'"),
    ('[tool.model-audit.options.large-kernel]\nmin-kernel = 5.5',
     "options.large-kernel.min-kernel: expected an integer, got 5.5"),
    ('[tool.model-audit.options.high-dropout]\nmax = 1',
     "options.high-dropout.max: rule 'high-dropout' has no such option (options: threshold)"),
    ('[tool.model-audit.options.no-rule]\nx = 1', "options: unknown rule 'no-rule'"),
    ('select = [', "is not valid TOML"),
])
def test_bad_config_exits_2(model_file, capsys, body, message):
    pyproject(model_file.parent, "[tool.model-audit]\n" + body + "\n")
    code = main([str(model_file)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("model-audit: error: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--select", "high-dropout,nope"], "--select: unknown rule 'nope'"),
    (["--ignore", "nope"], "--ignore: unknown rule 'nope'"),
    (["--fail-on", "sometimes"], "invalid choice: 'sometimes'"),
    (["--train-script", "missing.py"], "--train-script: no such file: missing.py"),
])
def test_bad_flags_exit_2(model_file, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:  # argparse's own errors exit 2 too
        raise SystemExit(main([str(model_file), *argv]))
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# -- the same settings through the API, and precedence there


def test_api_precedence_over_config(tmp_path):
    project = load_config(path=pyproject(tmp_path, """
        [tool.model-audit]
        select = ["high-dropout", "large-kernel"]
        [tool.model-audit.severity]
        high-dropout = "info"
        [tool.model-audit.options.high-dropout]
        threshold = 0.7
    """))
    model = nn.Sequential(nn.Conv2d(8, 8, 5, padding=2), nn.Dropout(0.75), nn.Dropout(0.65))
    report = audit(model, input_shape=(1, 8, 8, 8), config=project)
    assert {(f.rule, f.layer, f.severity) for f in report.findings} == {
        ("high-dropout", "1", Severity.INFO), ("large-kernel", "0", Severity.INFO)}
    report = audit(model, input_shape=(1, 8, 8, 8), config=project, select=["high-dropout"], group=False,
                   severity={"high-dropout": "error"}, options={"high-dropout": {"threshold": 0.6}})
    assert {(f.rule, f.layer, f.severity) for f in report.findings} == {
        ("high-dropout", "1", Severity.ERROR), ("high-dropout", "2", Severity.ERROR)}
    defaults = audit(model, input_shape=(1, 8, 8, 8), select=["high-dropout"], group=False)
    assert {(f.layer, f.severity) for f in defaults.findings} == {("1", Severity.WARNING), ("2", Severity.WARNING)}
    [grouped] = audit(model, input_shape=(1, 8, 8, 8), select=["high-dropout"]).findings  # one pattern, 2 places
    assert [o["layer"] for o in grouped.data["occurrences"]] == ["1", "2"] and "2 occurrences" in grouped.message
    assert audit(model, input_shape=(1, 8, 8, 8), rules=False).findings == []


def test_settings_fail_on_threshold():
    findings = [Finding("x", Severity.WARNING, "a", "m")]
    assert RuleSettings(fail_on="warning").fails(findings)
    assert not RuleSettings(fail_on="error").fails(findings)
    assert not RuleSettings(fail_on="never").fails(findings + [Finding("x", Severity.ERROR, "a", "m")])
    with pytest.raises(ConfigError):
        RuleSettings.resolve(fail_on="loud")


class _Plugins:
    """Plugins handed to build_registry directly (the entry-point path is tested in test_rules_plugin)."""

    @rule(id="always-crashes", severity="error", summary="crashes", what="w", why="y", example="e", fix="f")
    def crashes(graph, ctx):
        raise RuntimeError("boom")

    @rule(id="flags-every-conv", severity="info", summary="convs", what="w", why="y", example="e", fix="f",
          options={"kinds": ["conv"]}, option_help={"kinds": "layer kinds"})
    def every_conv(graph, ctx):
        for layer in graph:
            if layer.kind in ctx.options["kinds"]:
                yield ctx.finding(layer, f"{layer.type} here", kernel=3)

    @hookimpl
    def model_audit_rules(self):
        return [self.crashes, self.every_conv]


def test_a_crashing_rule_is_a_note_not_a_crash():
    registry = build_registry(extra_plugins=(_Plugins(),))
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Linear(8, 2))
    report = audit(model, input_shape=(1, 3, 8, 8), registry=registry,
                   select=["always-crashes", "flags-every-conv"], options={"flags-every-conv": {"kinds": ["conv", "linear"]}})
    assert any("always-crashes" in note and "RuntimeError: boom" in note for note in report.notes)
    assert [(f.rule, f.layer, f.data) for f in report.findings] == [
        ("flags-every-conv", "0", {"kernel": 3}), ("flags-every-conv", "2", {"kernel": 3})]
    # A Sequential of torch layers built inside a function: no user line to point at, and never torch's own
    # files (issue 12: findings must point at the user's code or nowhere).
    assert report.findings[0].source is None


def test_duplicate_rule_ids_are_refused():
    class Twice:
        @hookimpl
        def model_audit_rules(self):
            return [default_registry().get("high-dropout")]

    with pytest.raises(Exception, match="provided by both"):
        build_registry(extra_plugins=(Twice(),))
