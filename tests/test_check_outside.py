"""``model-audit check`` names target files that lie outside the project tree (their code runs)."""
from __future__ import annotations

import json

from model_audit.cli.main import main

MODEL = "import torch.nn as nn\nmodel = nn.Linear(4, 4)\ninput_shape = (1, 4)\n"


def test_outside_targets_are_named(tmp_path, monkeypatch, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "inside.py").write_text(MODEL)
    (tmp_path / "elsewhere.py").write_text(MODEL)
    (project / "pyproject.toml").write_text('[[tool.model-audit.targets]]\ntarget = "inside.py"\n'
                                            '[[tool.model-audit.targets]]\ntarget = "../elsewhere.py"\n')
    monkeypatch.chdir(project)
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    outside = str((tmp_path / "elsewhere.py").resolve())
    assert f"note: runs {outside}, outside the project tree" in out
    assert out.count("outside the project tree") == 1
    assert main(["check", "--format", "json"]) == 0
    targets = json.loads(capsys.readouterr().out)["targets"]
    assert [t.get("outside_project") for t in targets] == [None, outside]
