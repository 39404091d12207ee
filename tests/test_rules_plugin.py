"""A third-party rule package (tests/plugins/model_audit_example_plugin) found through its entry point.

"Installed" the way pip installs it — a ``*.dist-info`` directory with ``entry_points.txt`` on
``sys.path`` next to the package — written by the fixture from the plugin's own pyproject.toml, so
the test needs no network, no build backend and never modifies the virtual environment (and so
works the same in a fresh ``pip install -e '.[test]'`` CI run and under pytest-xdist). A second
test builds and installs the package with pip itself (into a temporary ``--target``) when
setuptools is available, and runs ``model-audit`` in a fresh interpreter against it.
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
import torch.nn as nn

from model_audit import audit
from model_audit.cli.main import main
from model_audit.config import tomllib
from model_audit.rules.registry import build_registry, default_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline_build import can_build_offline  # noqa: E402

PLUGIN = Path(__file__).parent / "plugins" / "model_audit_example_plugin"
RULE_ID = "example-huge-linear"
MODEL = """
import torch.nn as nn
model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 512), nn.ReLU(), nn.Linear(512, 10))
input_shape = (1, 3, 32, 32)
"""
BIG_LINEAR_PARAMS = 3 * 32 * 32 * 512 + 512  # 1,573,376 > the rule's default max-params 1,000,000


def write_dist_info(site: Path) -> None:
    """What pip writes for the plugin: METADATA and entry_points.txt, from its pyproject.toml."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


def _forget_plugin() -> None:
    default_registry.cache_clear()
    for name in [n for n in sys.modules if n.startswith("model_audit_example_plugin")]:
        del sys.modules[name]


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_dist_info(site)
    monkeypatch.syspath_prepend(str(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    _forget_plugin()
    yield site
    _forget_plugin()  # monkeypatch restores sys.path after this; later registries never see the plugin


def test_plugin_is_not_installed_by_default():
    assert RULE_ID not in build_registry().rules


def test_plugin_rule_is_listed_and_documented(installed_plugin, capsys):
    registry = build_registry()
    assert registry.rules[RULE_ID].plugin == "example"
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(RULE_ID))
    assert line.split()[:3] == [RULE_ID, "warning", "example"]
    assert main(["rules", RULE_ID]) == 0
    assert "max-params" in capsys.readouterr().out


def test_plugin_rule_fires_through_api_and_cli(installed_plugin, tmp_path, monkeypatch, capsys):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 512), nn.ReLU(), nn.Linear(512, 10))
    report = audit(model, input_shape=(1, 3, 32, 32), select=[RULE_ID])
    assert [(f.rule, f.layer, f.data) for f in report.findings] == [
        (RULE_ID, "1", {"params": BIG_LINEAR_PARAMS, "threshold": 1_000_000})]
    # Options and severity overrides reach third-party rules like built-in ones.
    report = audit(model, input_shape=(1, 3, 32, 32), select=[RULE_ID], severity={RULE_ID: "error"},
                   options={RULE_ID: {"max_params": 1000}})
    assert [(f.layer, str(f.severity)) for f in report.findings] == [("1", "error"), ("3", "error")]

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(MODEL)
    code = main(["net.py", "--select", RULE_ID, "--format", "json", "--fail-on", "warning"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert code == 1
    assert [(f["rule"], f["layer"], f["severity"]) for f in findings] == [(RULE_ID, "1", "warning")]
    assert f"{BIG_LINEAR_PARAMS:,} parameters > max-params 1,000,000" in findings[0]["message"]




@pytest.mark.skipif(not can_build_offline(), reason="pip needs setuptools (and wheel) to build offline")
def test_plugin_installs_with_pip_and_fires_in_a_fresh_process(tmp_path):
    target = tmp_path / "site"
    source = tmp_path / "src"  # pip builds in the source tree (build/, *.egg-info): keep tests/ clean
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    entry_points = next(target.glob("model_audit_example_plugin-*.dist-info")) / "entry_points.txt"
    assert "[model_audit]" in entry_points.read_text()
    (tmp_path / "net.py").write_text(textwrap.dedent(MODEL))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "model_audit.cli.main"]
    listed = subprocess.run([*cli, "rules"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and RULE_ID in listed.stdout, listed.stderr
    done = subprocess.run([*cli, "net.py", "--select", RULE_ID, "--format", "json"], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [f["layer"] for f in json.loads(done.stdout)["findings"]] == ["1"]
