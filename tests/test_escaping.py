"""User-controlled strings (layer, model, target names) cannot break a report's format."""
from __future__ import annotations

from dataclasses import replace

import re

import torch.nn as nn

from model_audit import audit
from model_audit.cli.main import main
from model_audit.render.github import render_github
from model_audit.render.html import render_html
from model_audit.render.markdown import render_markdown
from model_audit.render.table import render_table
from model_audit.report.finding import Finding, Severity

NASTY = "a`|b\n::error::pwned <script>x</script>"


def _model() -> nn.Module:
    model = nn.Sequential()
    model.add_module(NASTY, nn.Linear(8, 8))
    model.add_module("ok", nn.Linear(8, 4))
    return model


def _report():
    report = audit(_model(), input_shape=(2, 8), rules=False, name="net|`\n::warning::x")
    return replace(report, findings=[Finding("some-rule", Severity.ERROR, NASTY, "message with | and \n::error::x",
                                             fix="a|b")])


def _cells(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line))


def test_markdown_tables_keep_their_columns() -> None:
    text = render_markdown(_report())
    assert "<script>x</script> |" not in text  # outside code spans HTML is escaped
    tables: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not tables or tables[-1] is None:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1] is not None:
            tables.append(None)
    tables = [t for t in tables if t]
    assert len(tables) >= 2
    for table in tables:
        assert len({_cells(line) for line in table}) == 1, table
    row = next(line for line in text.splitlines() if "pwned" in line and "Linear" in line)
    assert row.startswith("| ``a`\\|b ::error::pwned <script>x</script>`` |")  # a code span longer than the backtick inside


def test_terminal_and_github_output_have_no_injected_lines() -> None:
    report = _report()
    for text in (render_table(report), render_github(report)):
        assert not any(line.startswith("::error::") or line.startswith("::warning::") for line in text.splitlines())
    assert all(line.startswith("::") for line in render_github(report).splitlines())
    assert "a`|b\\n::error::pwned" in render_table(report)


def test_html_escapes_names() -> None:
    html = render_html(_report())
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html


def test_check_outputs_escape_target_names(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "net.py").write_text("import torch.nn as nn\nmodel = nn.Linear(4, 4)\ninput_shape = (1, 4)\n")
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.model-audit.targets]]\ntarget = "net.py"\nname = "x|`y\\n::error::z"\n'
        '[[tool.model-audit.targets]]\ntarget = "missing.py"\nname = "m|\\n::error::q"\n')
    monkeypatch.chdir(tmp_path)
    for fmt in ("text", "markdown", "github"):
        assert main(["check", "--format", fmt]) == 2
        out = capsys.readouterr().out
        assert not any(line.startswith("::error::") for line in out.splitlines()), out
        if fmt == "markdown":
            rows = [line for line in out.splitlines() if line.startswith("|")]
            assert len({_cells(line) for line in rows}) == 1, rows
