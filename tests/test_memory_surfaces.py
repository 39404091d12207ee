"""Surfaces of the memory analysis: the timeline, the HTML chart, Markdown, `diff` and pytest baselines.

Oracles: the real tensors' ``nbytes`` (a real optimizer stepped on a real copy of the model), and
closed forms (an MLP whose hidden layer widens by ``delta`` saves ``batch * delta * 4`` more bytes
per tensor its GELU and next Linear save).
"""
from __future__ import annotations

import copy
import json
import random
import re
import xml.etree.ElementTree as ET

import torch
import torch.nn as nn

import model_audit
from model_audit.analyses.memory import measure_step
from model_audit.analyses.memory.timeline import MAX_POINTS, downsample
from model_audit.cli.main import main
from model_audit.escaping import md_text
from model_audit.render.html import render_html
from model_audit.render.markdown import render_markdown
from model_audit.render.memory import describe
from model_audit.units import format_bytes

pytest_plugins = ["pytester"]


class BNNet(nn.Module):
    """Parameters, BatchNorm buffers and enough ops for the downsampling to matter."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(48, 48), nn.BatchNorm1d(48), nn.GELU())])
        self.head = nn.Linear(48, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _state_before_step(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes alive before step 2 of a real run: params, buffers, AdamW state after one real step, input."""
    real = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(real.parameters(), lr=1e-3)
    real(x).sum().backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    state = sum(v.nbytes for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor))
    return (sum(p.nbytes for p in real.parameters()) + sum(b.nbytes for b in real.buffers()) + state + x.nbytes)


def test_timeline_peaks_at_peak_bytes_in_peak_phase_and_starts_at_the_state_before_the_step():
    torch.manual_seed(0)
    model, x = BNNet(), torch.randn(32, 48)
    step = measure_step(model, (x,), {}, optimizer="adamw", amp_device="cpu")  # as the real step runs
    timeline = step.timeline
    assert 2 <= len(timeline) <= MAX_POINTS
    top = max(p["bytes"] for p in timeline)
    assert top == step.peak_bytes
    assert next(p for p in timeline if p["bytes"] == top)["phase"] == step.peak_phase
    assert timeline[0]["phase"] == "baseline" and timeline[0]["bytes"] == _state_before_step(model, x)
    ops = [p["op"] for p in timeline]
    assert ops == sorted(set(ops))
    phases = [p["phase"] for p in timeline]
    runs = [ph for i, ph in enumerate(phases) if i == 0 or ph != phases[i - 1]]
    assert runs == ["baseline", "forward", "backward", "optimizer"]


def test_timeline_in_the_json_report_and_inference():
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
    x = torch.randn(8, 16)
    report = model_audit.audit(model, x, memory="inference", memory_options={"amp_device": "cpu"})
    data = json.loads(json.dumps(report.to_dict()))["summary"]["memory"]
    points = data["timeline"]
    assert max(p["bytes"] for p in points) == data["peak_bytes"]
    params = sum(p.nbytes for p in model.parameters())
    assert points[0] == {"op": 1, "bytes": params + x.nbytes, "phase": "baseline"}
    assert {p["phase"] for p in points} == {"baseline", "forward"}


def test_downsample_keeps_the_exact_peak_the_phase_boundaries_and_the_limit():
    rng = random.Random(7)
    samples = [(rng.randrange(10**6), "forward") for _ in range(5000)]
    samples += [(rng.randrange(10**6), "backward") for _ in range(7000)]
    samples += [(rng.randrange(10**6), "optimizer") for _ in range(3000)]
    peak_index = 9876
    samples[peak_index] = (2 * 10**6, "backward")
    samples[9999] = (2 * 10**6, "backward")  # a later tie: the first occurrence is the peak
    points = downsample(samples, peak_index)
    assert len(points) <= MAX_POINTS
    assert max(points, key=lambda p: (p["bytes"], -p["op"]))["op"] == peak_index + 1
    kept = {p["op"] for p in points}
    assert {1, 5000, 5001, 12000, 12001, 15000} <= kept  # ends and both sides of each boundary
    assert all(samples[p["op"] - 1] == (p["bytes"], p["phase"]) for p in points)
    short = [(5, "forward"), (9, "forward"), (3, "backward")]
    assert [p["bytes"] for p in downsample(short, 1)] == [5, 9, 3]


# -- HTML and Markdown


def _weird_model() -> nn.Module:
    model = nn.Sequential()
    model.add_module("fc", nn.Linear(32, 256))
    model.add_module("act<b>&\"x", nn.GELU())  # GELU saves its input: a top layer at the peak
    model.add_module("out", nn.Linear(256, 3))
    return model


def _memory_svg(page: str) -> ET.Element:
    match = re.search(r"<svg[^>]*class=\"memory-timeline\".*?</svg>", page, re.S)
    assert match, "no memory chart in the page"
    return ET.fromstring(match.group())


def test_html_memory_chart_marks_the_peak_shades_phases_and_lists_the_top_layers():
    report = model_audit.audit(_weird_model(), input_shape=(64, 32), memory="train")
    page = render_html(report)
    svg = _memory_svg(page)
    ns = "{http://www.w3.org/2000/svg}"
    labels = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "peak-label"]
    assert labels == [format_bytes(report.memory["peak_bytes"])]
    assert {r.get("data-phase") for r in svg.iter(f"{ns}rect") if r.get("class") == "phase"} == \
        {"baseline", "forward", "backward", "optimizer"}
    assert {t.text for t in svg.iter(f"{ns}text") if t.get("class") == "phase-label"} >= {"forward", "backward"}
    top = re.search(r"<ol class=\"top-layers\">(.*?)</ol>", page, re.S).group(1)
    names = re.findall(r"<code>(.*?)</code>", top)
    assert names and names == [n["name"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                               .replace('"', "&quot;") for n in report.memory["top_layers"]]
    assert "act<b>" not in page and "act&lt;b&gt;&amp;&quot;x" in page
    assert page.count("Memory (") == 1  # not repeated in the Extras block


def test_html_without_the_memory_analysis_has_no_memory_section():
    page = render_html(model_audit.audit(nn.Linear(4, 2), input_shape=(1, 4)))
    assert "memory-timeline" not in page and "<h2>Memory</h2>" not in page


def test_markdown_memory_section_uses_the_shared_wording_escaped():
    report = model_audit.audit(_weird_model(), input_shape=(64, 32), memory="train")
    text = render_markdown(report)
    section = text.split("### Memory", 1)[1].split("\n### ", 1)[0]
    lines = describe(report.memory)
    assert md_text(lines[0]) in section
    assert all(f"- {md_text(line.strip())}" in section for line in lines[1:])
    assert format_bytes(report.memory["peak_bytes"]) in section
    assert "act&lt;b&gt;" in section and "act<b>" not in section
    assert text.count("Memory (") == 1  # not repeated in the extras code block


# -- diff


def _mlp(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(32, hidden), nn.GELU(), nn.Linear(hidden, 10))


def _write(tmp_path, name: str, report) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(report.to_dict()))
    return str(path)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_compares_memory_by_the_closed_form(tmp_path, capsys):
    batch, hidden, delta = 16, 64, 32
    base = _write(tmp_path, "base.json", model_audit.audit(_mlp(hidden), input_shape=(batch, 32), memory="train"))
    head_report = model_audit.audit(_mlp(hidden + delta), input_shape=(batch, 32), memory="train")
    head = _write(tmp_path, "head.json", head_report)
    code, out, err = _cli(capsys, "diff", base, head, "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    # GELU saves its input and the second Linear saves GELU's output: two (batch, hidden) fp32 tensors
    assert data["totals"]["activation_memory"]["delta"] == batch * delta * 4 * 2
    params_delta = sum(p.nbytes for p in _mlp(hidden + delta).parameters()) - sum(p.nbytes for p in _mlp(hidden).parameters())
    assert data["totals"]["params_memory"]["delta"] == params_delta
    assert data["totals"]["gradients_memory"]["delta"] == params_delta
    assert data["totals"]["optimizer_memory"]["delta"] == 2 * params_delta  # AdamW: exp_avg and exp_avg_sq
    assert data["totals"]["peak_memory"]["head"] == head_report.memory["peak_bytes"]
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["1"]["delta"]["activation_memory"] == batch * delta * 4  # GELU's saved input
    assert layers["2"]["delta"]["activation_memory"] == batch * delta * 4  # the Linear's saved input
    assert "only_in" not in data
    code, out, err = _cli(capsys, "diff", base, head)
    assert code == 0 and "saved activations" in out and "Δ saved" in out and "Δ live" in out
    assert f"+{format_bytes(batch * delta * 4 * 2)}" in out
    code, out, err = _cli(capsys, "diff", base, head, "-f", "markdown")
    assert "| peak memory |" in out and "Δ saved" in out


def test_diff_memory_gate_names_what_holds_the_peak_and_one_sided_memory_is_said(tmp_path, capsys):
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    cpu = {"amp_device": "cpu"}  # no cuBLAS workspaces: AdamW's state is over 1% of the peak
    sgd = _write(tmp_path, "sgd.json", model_audit.audit(model, input_shape=(512, 64), memory="train", optimizer="sgd",
                                                         memory_options=cpu))
    adamw_report = model_audit.audit(model, input_shape=(512, 64), memory="train", optimizer="adamw",
                                     memory_options=cpu)
    adamw = _write(tmp_path, "adamw.json", adamw_report)
    code, out, err = _cli(capsys, "diff", sgd, adamw, "--max-increase", "1%")
    assert code == 1 and "params grew" not in err  # only memory grew
    top = adamw_report.memory["top_layers"][0]
    assert "peak memory grew from" in err and f"held most at the peak: {top['name']} ({format_bytes(top['bytes'])})" in err
    plain = _write(tmp_path, "plain.json", model_audit.audit(model, input_shape=(512, 64)))
    code, out, err = _cli(capsys, "diff", plain, adamw, "-f", "json")
    data = json.loads(out)
    assert code == 0 and "peak_memory" not in data["totals"] and data["only_in"]["peak_memory"] == "head"
    code, out, err = _cli(capsys, "diff", plain, adamw, "--max-increase", "0")
    assert code == 0 and "the memory analysis ran for the head report only" in out


def test_diff_rejects_a_malformed_memory_figure_in_one_line(tmp_path, capsys):
    document = model_audit.audit(_mlp(8), input_shape=(2, 32), memory="train").to_dict()
    document["summary"]["memory"]["peak_bytes"] = "lots"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    good = _write(tmp_path, "good.json", model_audit.audit(_mlp(8), input_shape=(2, 32), memory="train"))
    code, out, err = _cli(capsys, "diff", str(bad), good)
    assert code == 2 and "summary.memory.peak_bytes is 'lots'" in err and err.count("\n") == 1
    document["summary"]["memory"] = 7
    bad.write_text(json.dumps(document))
    code, out, err = _cli(capsys, "diff", str(bad), good)
    assert code == 2 and "summary.memory is not an object" in err


# -- pytest baselines

BASELINE_TESTS = """
import os

import torch
import torch.nn as nn


def test_model(model_audit):
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    model_audit(model, input_shape=(512, 64), name="mlp", memory="train", optimizer=os.environ["OPTIMIZER"])


def test_no_memory(model_audit):
    model_audit(nn.Linear(8, 2), input_shape=(1, 8), name="linear")
"""


def _adamw_state_bytes() -> int:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 64)).sum().backward()
    opt.step()
    return sum(v.nbytes for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor))


def test_baseline_records_peak_memory_and_fails_on_its_regression_naming_the_top_layers(pytester, monkeypatch):
    # audit once out here: torch modules first imported inside pytester's in-process runs are dropped
    # afterwards and torch refuses to register their operators twice (see test_pytest_plugin.py)
    model_audit.audit(nn.Linear(4, 2), input_shape=(1, 4), memory="train")
    pytester.makepyfile(test_models=BASELINE_TESTS)
    baseline, audits = pytester.path / "baseline.json", pytester.path / "audits.json"
    monkeypatch.setenv("OPTIMIZER", "sgd")
    pytester.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}", "--model-audit-update",
                       f"--model-audit-report={audits}").assert_outcomes(passed=2)
    stored = json.loads(baseline.read_text())["models"]
    reports = {a["name"]: a["report"] for a in json.loads(audits.read_text())["audits"]}
    assert stored["test_models.py::test_model::mlp"]["peak_memory"] == reports["mlp"]["summary"]["memory"]["peak_bytes"]
    assert "peak_memory" not in stored["test_models.py::test_no_memory::linear"]  # the analysis did not run
    pytester.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}").assert_outcomes(passed=2)

    monkeypatch.setenv("OPTIMIZER", "adamw")  # same params, MACs and FLOPs; Adam's state adds to the peak
    result = pytester.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}",
                                f"--model-audit-report={audits}")
    result.assert_outcomes(passed=1, failed=1)
    head = {a["name"]: a["report"] for a in json.loads(audits.read_text())["audits"]}["mlp"]["summary"]["memory"]
    old = stored["test_models.py::test_model::mlp"]["peak_memory"]
    assert head["peak_bytes"] - old == _adamw_state_bytes()  # the peak grew by exactly the real optimizer state
    top = head["top_layers"][0]
    result.stdout.fnmatch_lines([f"*peak memory grew from {format_bytes(old)} ({old:,} bytes) to "
                                 f"{format_bytes(head['peak_bytes'])} ({head['peak_bytes']:,} bytes) (+*; tolerance 0%)"
                                 f"*; held most at the peak: {top['name']} ({format_bytes(top['bytes'])})*",
                                 "*REGRESSED peak memory +*"])
    assert "params grew" not in result.stdout.str()
    pytester.runpytest("-p", "no:cacheprovider", f"--model-audit-baseline={baseline}",
                       "--model-audit-tolerance=40%").assert_outcomes(passed=2)


def test_peak_memory_budget_rows_show_bytes_in_markdown_and_html(tmp_path, capsys):
    model = tmp_path / "mlp.py"
    model.write_text("import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 10))\n"
                     "input_shape = (16, 32)\n")
    code, out, err = _cli(capsys, str(model), "--max-peak-memory", "1GiB", "-f", "json")
    peak = json.loads(out)["summary"]["memory"]["peak_bytes"]
    code, out, err = _cli(capsys, str(model), "--max-peak-memory", "1GiB", "-f", "markdown")
    assert code == 0 and f"| peak memory | {format_bytes(peak)} | {format_bytes(2**30)} | ✅ |" in out
    code, out, err = _cli(capsys, str(model), "--max-peak-memory", "1GiB", "-f", "html")
    assert f"peak memory within {format_bytes(2**30)}" in out
