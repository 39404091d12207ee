"""Output formats: SARIF against the OASIS 2.1.0 schema, HTML well-formed (and rendered in headless
Chromium when one is installed), Markdown and GitHub annotations, and the CLI's --format choices."""
from __future__ import annotations

import io
from dataclasses import replace
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import torch.nn as nn

from model_audit import Budget, Finding, Severity, audit
from model_audit.cli.main import main
from model_audit.cli.gates import enforce
from model_audit.render.github import render_github
from model_audit.render.html import render_html
from model_audit.render.markdown import render_markdown
from model_audit.render.sarif import sarif_log
from model_audit.rules.metadata import rule_metadata
from model_audit.rules.registry import default_registry

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
HERE = Path(__file__).resolve()


def net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def report_with_findings(tmp_path=None):
    """A real audit plus findings at a project file, at an installed package, and with no source."""
    report = audit(net(), input_shape=(1, 3, 8, 8), rules=False)
    return replace(report, findings=[
        Finding("big-thing", Severity.ERROR, "3", "kernel 3 | pipes, 100% and\nnewlines", fix="use 1x1",
                source=f"{HERE}:42", data={"kernel": 3}),
        Finding("odd-thing", Severity.WARNING, "0", "a warning", source="/usr/lib/python3/site-packages/torch/nn/conv.py:7"),
        Finding("note-thing", Severity.INFO, None, "a whole-model note"),
    ])


def test_sarif_validates_against_the_2_1_0_schema_with_rule_metadata_and_locations(monkeypatch):
    monkeypatch.chdir(HERE.parent.parent)
    report = report_with_findings()
    registry = default_registry()
    real = next(iter(registry.rules), None)
    if real is not None:  # a registered rule's documentation reaches tool.driver.rules
        report.findings.append(Finding(real, Severity.WARNING, "7", "real rule"))
    log = sarif_log(report, rule_metadata([f.rule for f in report.findings], registry))
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    # documented rules first, then ids the registry does not know (they still get a descriptor)
    assert [r["id"] for r in rules] == ([real] if real else []) + ["big-thing", "odd-thing", "note-thing"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert [rules[r["ruleIndex"]]["id"] for r in run["results"]] == [r["ruleId"] for r in run["results"]]
    first = by_rule["big-thing"]
    assert first["level"] == "error" and by_rule["note-thing"]["level"] == "note"
    physical = first["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "tests/test_formats.py", "uriBaseId": "SRCROOT"},
                        "region": {"startLine": 42}}
    assert first["locations"][0]["logicalLocations"] == [{"fullyQualifiedName": "3", "kind": "module"}]
    assert "physicalLocation" not in by_rule["note-thing"].get("locations", [{}])[0]
    if real is not None:
        descriptor = rules[by_rule[real]["ruleIndex"]]
        doc = registry.rules[real].doc
        assert descriptor["shortDescription"]["text"] == registry.rules[real].summary
        assert doc.why in descriptor["help"]["markdown"] and descriptor["fullDescription"]["text"] == doc.what


def test_cli_writes_each_format_to_a_file(tmp_path, capsys):
    model_file = tmp_path / "net.py"
    model_file.write_text("import torch.nn as nn\nmodel = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n"
                          "input_shape = (1, 3, 8, 8)\n")
    schema = json.loads(SCHEMA.read_text())
    params = sum(p.numel() for p in nn.Conv2d(3, 4, 3).parameters())  # 3*4*9 + 4 = 112
    for fmt in ("markdown", "html", "sarif", "github"):
        out = tmp_path / f"report.{fmt}"
        assert main([str(model_file), "--format", fmt, "--output", str(out)]) == 0
        text = out.read_text()
        if fmt == "sarif":
            log = json.loads(text)
            jsonschema.Draft4Validator(schema).validate(log)
            assert log["runs"][0]["properties"]["params"] == params
        else:
            assert f"params {params}" in text or f"| {params} |" in text or f">{params}<" in text, fmt
    assert capsys.readouterr().out == ""


class _Checker(HTMLParser):
    """Well-formedness: every non-void element closed in order; counts what the charts drew."""

    VOID = {"meta", "br", "img", "hr", "input", "link", "rect", "circle", "line", "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]} ")
        else:
            self.stack.pop()


def parse_html(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    return checker


def test_html_is_self_contained_well_formed_and_charts_every_layer_with_work():
    report = report_with_findings()
    report, _ = enforce(report, Budget(params=report.params - 1), stream=io.StringIO())
    report = replace(report, probe={"layers": [{"name": "0", "grad_norm": 2.0e-4}, {"name": "3", "grad_norm": 0.5},
                                               {"name": "7", "grad_norm": 3.0}]})
    html = render_html(report)
    checker = parse_html(html)
    assert checker.errors == [] and checker.stack == []
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    macs_layers = [l for l in report.layers if l.macs]
    param_layers = [l for l in report.layers if l.params]
    charts = html[html.index("<h2>MACs by layer"):]  # after the layer graph, whose boxes are rects too
    assert charts.count("<rect") == len(macs_layers) + len(param_layers)
    assert "<h2>Layer graph</h2>" in html and checker.counts["svg"] == 4  # graph, MACs, params, gradient norms
    assert checker.counts["circle"] == 3 and "1e-4" in html and "1e0" in html  # log axis spans the norms
    assert checker.counts["tr"] == 1 + len(report.layers) + 1 + 1 + len(report.findings)  # layers + findings tables
    assert "kernel 3 | pipes, 100% and\nnewlines" in html and "exceeds the budget" in html
    assert f"{report.macs:,}" in html


def _chromium() -> str | None:
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium; see docs/ci.md for the manual check")
def test_html_renders_in_headless_chromium(tmp_path):
    report = audit(net(), input_shape=(1, 3, 8, 8))
    page = tmp_path / "report.html"
    page.write_text(render_html(report))
    shot = tmp_path / "shot.png"
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,1400"]
    dom = subprocess.run(args + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    charts = dom[dom.index("MACs by layer"):]  # after the layer graph, whose boxes are rects too
    assert charts.count("<rect") == sum(1 for l in report.layers if l.macs) + sum(1 for l in report.layers if l.params)
    subprocess.run(args + [f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    from PIL import Image

    pixels = Image.open(shot).convert("RGB").getdata()
    blue = sum(1 for p in pixels if p == (9, 105, 218))  # the MACs bars' fill, #0969da
    purple = sum(1 for p in pixels if p == (130, 80, 223))  # the params bars' fill, #8250df
    assert blue > 500 and purple > 500, (blue, purple)


def test_markdown_summary_budgets_findings_and_top_layers():
    report = report_with_findings()
    report, _ = enforce(report, Budget(params=report.params - 1, macs=report.macs), stream=io.StringIO())
    text = render_markdown(report, top=3)
    assert f"| exact | {report.params:,} | {report.macs:,} | {report.flops:,} |" in text
    assert "### Budgets ❌" in text and "| MACs |" in text and "✅" in text
    assert "kernel 3 \\| pipes, 100% and newlines" in text  # pipes escaped, newline folded
    top = sorted((l for l in report.layers if l.macs), key=lambda l: -l.macs)[:3]
    assert f"### Top 3 of {sum(1 for l in report.layers if l.macs or l.params)} layers by MACs" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows[-3:]] == [l.name for l in top]
    for block in text.split("\n\n"):  # every row of a table has as many cells as its header
        table = [line for line in block.splitlines() if line.startswith("|")]
        widths = {line.count("|") - line.count("\\|") for line in table}
        assert len(widths) <= 1, table


def test_github_annotations_escape_and_point_at_project_files(monkeypatch):
    monkeypatch.chdir(HERE.parent.parent)
    report = report_with_findings()
    report, _ = enforce(report, Budget(flops=1), stream=io.StringIO())
    lines = render_github(report).splitlines()
    assert lines[0].startswith("::error title=model-audit budget::") and f"FLOPs {report.flops:,}" in lines[0]
    assert lines[1] == ("::error file=tests/test_formats.py,line=42,title=model-audit big-thing::"
                        "3: kernel 3 | pipes, 100%25 and%0Anewlines Fix: use 1x1")
    assert lines[2] == "::warning title=model-audit odd-thing::0: a warning"  # installed package: no file
    assert lines[3] == "::notice title=model-audit note-thing::a whole-model note"
    assert lines[4].startswith("::notice title=model-audit::")


def test_html_draws_one_point_per_layer_the_probe_measured():
    import sys

    sys.path.insert(0, str(HERE.parent.parent / "examples"))
    try:
        from resnet import SmallResNet
    finally:
        sys.path.pop(0)
    model = SmallResNet()
    report = audit(model, input_shape=(2, 3, 8, 8), probe=True)
    measured = [l for l in report.probe.to_dict()["layers"] if isinstance(l.get("grad_norm"), float) and l["grad_norm"] > 0]
    with_params = [name for name, module in model.named_modules() if list(module.parameters(recurse=False))]
    assert [l["name"] for l in measured] == with_params  # every conv, norm and linear layer has a gradient
    checker = parse_html(render_html(report))
    assert checker.errors == [] and checker.counts["circle"] == len(with_params)
