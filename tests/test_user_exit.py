"""``sys.exit()``/``exit()`` in user code is an error (exit 2, naming where), never a silent exit 0."""
from __future__ import annotations

import textwrap

import pytest
import torch.nn as nn

from model_audit import audit
from model_audit.cli.main import main
from model_audit.errors import AuditError

FORWARD = """
import sys, torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        sys.exit(0)
model = Net()
input_shape = (1, 4)
"""
FACTORY = """
import torch.nn as nn
def build_model() -> nn.Module:
    exit()
"""
EXAMPLE = """
import sys, torch.nn as nn
model = nn.Linear(4, 4)
def example_inputs():
    sys.exit(0)
"""
BIG = """
import torch.nn as nn
model = nn.Linear(400, 400)
input_shape = (1, 400)
"""
FILES = {"fwd.py": (FORWARD, "forward of Net", "line 8"), "fac.py": (FACTORY, "building", "line 4"),
         "ex.py": (EXAMPLE, "example_inputs()", "line 5")}


@pytest.mark.parametrize("name", sorted(FILES))
def test_sys_exit_in_user_code_is_an_error(name, tmp_path, monkeypatch, capsys) -> None:
    source, where, line = FILES[name]
    (tmp_path / name).write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    assert main([name]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert where in err and "sys.exit(" in err and line in err
    assert "Traceback" not in err


def test_check_goes_on_after_a_target_that_exits(tmp_path, monkeypatch, capsys) -> None:
    for name, (source, _, _) in FILES.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    (tmp_path / "big.py").write_text(textwrap.dedent(BIG))
    (tmp_path / "lazy.py").write_text("import torch.nn as nn\nmodel = nn.LazyLinear(4)\ninput_shape = (1, 4)\n")
    targets = "".join(f'[[tool.model-audit.targets]]\ntarget = "{name}"\n' for name in [*FILES, "lazy.py", "big.py"])
    (tmp_path / "pyproject.toml").write_text('[tool.model-audit]\nmax-params = "1K"\n' + targets)
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    out, _ = capsys.readouterr()
    assert out.count("ERROR") == 3  # the lazy model is materialized on a private copy and audited (issue 11)
    assert "OK    lazy.py" in out
    assert "FAIL  big.py: params 160.40K/1.00K" in out  # 400*400 + 400, checked after the exits


def test_api_forward_exit_raises() -> None:
    class Quit(nn.Module):
        def forward(self, x):
            raise SystemExit(5)

    with pytest.raises(AuditError, match=r"forward of Quit called sys.exit\(5\)"):
        audit(Quit(), input_shape=(1, 4))
