"""Extension points beyond rules: a cost formula for a torch.library custom op and a new analysis.

``tests/plugins/model_audit_cost_plugin`` is installed the way a user installs a plugin (pip into a
``--target`` folder, entry point ``model_audit``); a fresh interpreter then audits a model that calls
the plugin's custom op. The op's FLOPs must equal the plugin's closed form and it must not be listed
as uncounted; the analysis' per-layer field must reach ``--format json`` and the table.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from model_audit import Cost, audit, register_cost
from model_audit.analyses import Analysis, register_analysis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from offline_build import can_build_offline  # noqa: E402

PLUGIN = Path(__file__).parent.parent / "plugins" / "model_audit_cost_plugin"
MODEL = """
import torch
import torch.nn as nn
import model_audit_cost_plugin  # defines torch.ops.mcp.scaled_gelu


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(torch.ops.mcp.scaled_gelu(self.fc1(x), 0.5))


model = Net()
input_shape = (2, 16)
"""




@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if not can_build_offline():
        pytest.skip("pip needs setuptools (and wheel) to build offline")
    tmp = tmp_path_factory.mktemp("plugin")
    target, source = tmp / "site", tmp / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, text=True, cwd=tmp)
    (tmp / "net.py").write_text(textwrap.dedent(MODEL))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    return tmp, env


def _cli(installed, *args):
    tmp, env = installed
    return subprocess.run([sys.executable, "-m", "model_audit.cli.main", "net.py", *args], capture_output=True,
                          text=True, env=env, cwd=tmp)


def test_plugin_cost_formula_and_analysis_reach_json(installed):
    done = _cli(installed, "--format", "json", "--no-rules")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    gelu = [layer for layer in data["layers"] if "scaled_gelu" in layer["type"]]
    assert len(gelu) == 1
    assert gelu[0]["flops"] == (8 + 1) * 2 * 32  # the plugin's closed form on the [2, 32] activation
    assert data["summary"]["uncounted_ops"] == {}
    by_name = {layer["name"]: layer for layer in data["layers"]}
    assert by_name["fc1"]["weight_bytes"] == 4 * (16 * 32 + 32)
    assert by_name["fc2"]["weight_bytes"] == 4 * (32 * 4 + 4)
    assert data["summary"]["weight_bytes"] == {"total": 4 * (16 * 32 + 32 + 32 * 4 + 4)}


def test_plugin_analysis_column_in_the_table(installed):
    done = _cli(installed, "--no-rules")
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if line.startswith("layer"))
    assert "weight bytes" in header
    fc1 = next(line for line in done.stdout.splitlines() if line.startswith("fc1 "))
    assert "2.18K" in fc1  # 4 * 544 = 2,176 bytes


def test_without_the_plugin_the_custom_op_is_uncounted_under_its_namespace(tmp_path):
    """The same op with no formula: listed as uncounted with its real namespace, never a silent zero."""

    @torch.library.custom_op("mcptest::double_it", mutates_args=())
    def double_it(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @double_it.register_fake
    def _(x):
        return torch.empty_like(x)

    class Net(nn.Module):
        def forward(self, x):
            return torch.ops.mcptest.double_it(x)

    report = audit(Net(), input_shape=(3, 5), rules=False)
    assert report.uncounted_ops == {"mcptest.double_it": 1}
    register_cost("mcptest::double_it", lambda args, kwargs, out: Cost(0, out.numel()))
    report = audit(Net(), input_shape=(3, 5), rules=False)
    assert report.uncounted_ops == {} and report.flops == 15
    with pytest.raises(ValueError, match="already has a cost formula"):
        register_cost("mcptest::double_it", lambda args, kwargs, out: Cost(0, 0))
    with pytest.raises(ValueError, match="already has a cost formula"):
        register_cost(torch.ops.aten.convolution, lambda args, kwargs, out: Cost(0, 0))


def test_register_analysis_adds_a_json_field(monkeypatch):
    monkeypatch.setattr("model_audit.analyses._REGISTERED", [])

    def depth(graph):
        for layer in graph:
            layer.attrs["depth_marker"] = layer.name.count(".")

    register_analysis(Analysis("depth_marker", depth, columns={"depth_marker": "dots"}))
    with pytest.raises(ValueError, match="already registered"):
        register_analysis(Analysis("depth_marker", depth))
    report = audit(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), input_shape=(1, 2), rules=False)
    assert [row["depth_marker"] for row in report.to_dict()["layers"]] == [0, 0]
    assert report.columns == {"depth_marker": "dots"}


def test_a_failing_plugin_analysis_is_a_note_not_a_crash(monkeypatch):
    monkeypatch.setattr("model_audit.analyses._REGISTERED", [])

    def broken(graph):
        raise RuntimeError("boom")

    register_analysis(Analysis("broken", broken))
    report = audit(nn.Linear(2, 2), input_shape=(1, 2), rules=False)
    assert any("analysis broken failed" in note and "boom" in note for note in report.notes)
