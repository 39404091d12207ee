"""The CLI end to end: targets, inputs, output formats, --depth, and every error path (exit 2, no traceback)."""
from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn as nn

from model_audit import audit
from model_audit.target.loading import load_target
from model_audit.cli.main import main
from model_audit.units import format_count

NET = """
import torch
import torch.nn as nn

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))) + x

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.stage = nn.Sequential(Block(8), Block(8))
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stage(self.stem(x))
        return self.head(x.mean((2, 3)))

model = Net()
"""


def write(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def load_net(tmp_path):
    namespace: dict = {}
    exec(NET, namespace)
    return namespace["Net"]()


def test_json_equals_report_to_dict(tmp_path, capsys):
    path = write(tmp_path, "net.py", NET)
    code, out, err = run_cli(capsys, path, "--input", "2,3,16,16", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    loaded = load_target(path)  # the model as the CLI loads it: same classes, so same finding sources
    expected = audit(loaded.model, input_shape=(2, 3, 16, 16), name="model", source_path=loaded.path).to_dict()
    assert data == json.loads(json.dumps(expected))
    assert data["schema_version"] == 2
    for key in ("params", "trainable_params", "params_without_bias", "params_without_norm", "macs", "flops",
                "tracer", "uncounted_ops"):
        assert key in data["summary"], key
    for layer in data["layers"]:
        for key in ("name", "type", "output_shape", "params", "macs", "flops"):
            assert key in layer, key
    net = load_net(tmp_path)
    assert data["summary"]["params"] == sum(p.numel() for p in net.parameters())
    assert sum(layer["macs"] for layer in data["layers"]) == data["summary"]["macs"]
    assert data["layers"][0]["name"] == "stem" and data["layers"][0]["output_shape"] == [2, 8, 8, 8]
    assert err == ""


def test_table_output(tmp_path, capsys):
    path = write(tmp_path, "net.py", NET)
    code, out, err = run_cli(capsys, path, "--input", "1,3,16,16")
    assert code == 0, err
    report = audit(load_net(tmp_path), input_shape=(1, 3, 16, 16))
    for header in ("layer", "type", "output shape", "params", "MACs", "FLOPs"):
        assert header in out
    assert "stage.0.conv" in out and "[1, 8, 8, 8]" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert format_count(report.params) in total and format_count(report.macs) in total
    assert f"{report.params:,}" in out and f"{report.macs:,}" in out


def test_output_file(tmp_path, capsys):
    path = write(tmp_path, "net.py", NET)
    dest = tmp_path / "report.json"
    code, out, err = run_cli(capsys, path, "-i", "1,3,16,16", "-f", "json", "-o", str(dest))
    assert code == 0 and out == ""
    assert json.loads(dest.read_text())["summary"]["params"] > 0


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_rollup_sums(tmp_path, capsys, depth):
    from model_audit.render.rollup import rows

    path = write(tmp_path, "net.py", NET)
    code, out, err = run_cli(capsys, path, "--input", "1,3,16,16", "--depth", str(depth))
    assert code == 0, err
    report = audit(load_net(tmp_path), input_shape=(1, 3, 16, 16))
    rolled = list(rows(report, depth))
    assert sum(r.params for r in rolled) == report.params
    assert sum(r.macs for r in rolled) == report.macs
    assert sum(r.flops for r in rolled) == report.flops
    names = [r.name for r in rolled]
    assert all(name.count(".") < depth for name in names), names
    if depth == 1:
        assert "stage" in names and "stage.0" not in names
        stage = next(r for r in rolled if r.name == "stage")
        assert stage.params == sum(p.numel() for p in load_net(tmp_path).stage.parameters())
    body = out.split("\n\n")[0]
    for name in names:
        assert any(line.split()[0] == name for line in body.splitlines() if line.strip()), name


def test_several_inputs_with_dtype(tmp_path, capsys):
    path = write(tmp_path, "two.py", """
        import torch.nn as nn

        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(100, 16)
                self.proj = nn.Linear(4, 16)

            def forward(self, ids, feats):
                return self.embed(ids) + self.proj(feats)
    """)
    code, out, err = run_cli(capsys, path, "--input", "2,5:int64", "--input", "2,5,4", "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["input_shapes"] == [[2, 5], [2, 5, 4]]
    assert data["summary"]["macs"] == 2 * 5 * 4 * 16
    embed = next(layer for layer in data["layers"] if layer["name"] == "embed")
    assert embed["output_shape"] == [2, 5, 16]
    # the dtype suffix matters: float ids are rejected by the embedding, with exit 2
    code, out, err = run_cli(capsys, path, "--input", "2,5", "--input", "2,5,4")
    assert code == 2 and "Traceback" not in err and "embed" in err


def test_file_name_target_and_package_target(tmp_path, capsys):
    path = write(tmp_path, "many.py", NET + "\nother = nn.Linear(3, 3)\n")
    code, out, err = run_cli(capsys, f"{path}:other", "--input", "4,3", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["params"] == 12
    code, out, err = run_cli(capsys, f"{path}:Net", "--input", "1,3,16,16", "-f", "json")  # a class
    assert code == 0, err
    assert json.loads(out)["summary"]["params"] == sum(p.numel() for p in load_net(tmp_path).parameters())


def test_package_module_target(capsys):
    torchvision = pytest.importorskip("torchvision")
    code, out, err = run_cli(capsys, "torchvision.models:resnet18", "--input", "1,3,224,224", "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["params"] == torchvision.models.ResNet18_Weights.DEFAULT.meta["num_params"]
    assert abs(data["summary"]["macs"] / 1e9 - torchvision.models.ResNet18_Weights.DEFAULT.meta["_ops"]) < 0.005 * 1.82


def test_example_inputs_and_input_shape_from_file(tmp_path, capsys):
    path = write(tmp_path, "ex.py", """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))

        def example_inputs():
            return (torch.randn(3, 6),)
    """)
    code, out, err = run_cli(capsys, path, "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["input_shapes"] == [[3, 6]]
    assert data["summary"]["macs"] == 3 * (6 * 4 + 4 * 2)
    path = write(tmp_path, "shape.py", """
        import torch.nn as nn
        model = nn.Conv2d(3, 5, 3)
        input_shape = (2, 3, 9, 9)
    """)
    code, out, err = run_cli(capsys, path, "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["macs"] == 2 * 5 * 7 * 7 * 27
    # an explicit --input wins over the file's input_shape
    code, out, err = run_cli(capsys, path, "-i", "1,3,5,5", "-f", "json")
    assert code == 0 and json.loads(out)["summary"]["macs"] == 5 * 3 * 3 * 27


def test_factory_is_only_candidate(tmp_path, capsys):
    path = write(tmp_path, "fac.py", """
        import torch.nn as nn

        def build_model() -> nn.Module:
            return nn.Linear(5, 5)
    """)
    code, out, err = run_cli(capsys, path, "-i", "1,5", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["params"] == 30


def assert_clean_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("model-audit: error:")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_error_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.py")
    assert_clean_error(*run_cli(capsys, missing, "-i", "1,3"), "nope.py")


def test_error_no_model(tmp_path, capsys):
    path = write(tmp_path, "empty.py", "x = 1\n")
    assert_clean_error(*run_cli(capsys, path, "-i", "1,3"), "no model")


def test_error_several_models(tmp_path, capsys):
    path = write(tmp_path, "two.py", """
        import torch.nn as nn
        encoder = nn.Linear(3, 3)
        decoder = nn.Linear(3, 3)
    """)
    code, out, err = run_cli(capsys, path, "-i", "1,3")
    assert_clean_error(code, out, err, "encoder", "decoder", ":NAME")


def test_error_syntax(tmp_path, capsys):
    path = write(tmp_path, "bad.py", "import torch\ndef broken(:\n    pass\n")
    assert_clean_error(*run_cli(capsys, path, "-i", "1,3"), "syntax error", "line 2")


def test_error_import(tmp_path, capsys):
    path = write(tmp_path, "imp.py", "import torch\nimport no_such_module_xyz\nmodel = torch.nn.Linear(2, 2)\n")
    assert_clean_error(*run_cli(capsys, path, "-i", "1,2"), "no_such_module_xyz")


def test_error_missing_module_target(capsys):
    assert_clean_error(*run_cli(capsys, "no_such_pkg_xyz.models:net", "-i", "1,2"), "no_such_pkg_xyz")


def test_error_missing_name(tmp_path, capsys):
    path = write(tmp_path, "net.py", NET)
    assert_clean_error(*run_cli(capsys, f"{path}:missing", "-i", "1,2"), "missing")


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_error_input_rejected(tmp_path, capsys, device):
    path = write(tmp_path, "net.py", NET)
    code, out, err = run_cli(capsys, path, "-i", "1,4,16,16", "--device", device)
    assert_clean_error(code, out, err, "stem", "[1, 4, 16, 16]")
    assert "3" in err  # the channel count the conv expects


@pytest.mark.parametrize("spec", ["1,three,224", "1,3:float99", ",", "1;3"])
def test_error_unparsable_input(tmp_path, capsys, spec):
    path = write(tmp_path, "net.py", NET)
    assert_clean_error(*run_cli(capsys, path, "--input", spec), "--input")


def test_error_no_input_given(tmp_path, capsys):
    path = write(tmp_path, "plain.py", "import torch.nn as nn\nmodel = nn.Linear(3, 3)\n")
    assert_clean_error(*run_cli(capsys, path), "--input")


def test_error_bad_depth(tmp_path, capsys):
    path = write(tmp_path, "net.py", NET)
    assert_clean_error(*run_cli(capsys, path, "-i", "1,3,16,16", "--depth", "0"), "--depth")


def test_backward_flag(tmp_path, capsys):
    path = write(tmp_path, "mlp.py", "import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))\n")
    code, out, err = run_cli(capsys, path, "-i", "4,6", "--backward", "-f", "json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary["macs"] == 4 * (6 * 8 + 8 * 3)
    # grad of the first layer's weight + grad_input and grad_weight of the second
    assert summary["backward_macs"] == 4 * 6 * 8 + 2 * 4 * 8 * 3


def test_error_class_needs_arguments(tmp_path, capsys):
    path = write(tmp_path, "args.py", """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(width, width)
    """)
    assert_clean_error(*run_cli(capsys, path, "-i", "1,3"), "Net", "arguments")


def test_error_example_inputs_raises(tmp_path, capsys):
    path = write(tmp_path, "exbad.py", """
        import torch.nn as nn
        model = nn.Linear(3, 3)

        def example_inputs():
            raise RuntimeError("dataset not found")
    """)
    assert_clean_error(*run_cli(capsys, path), "example_inputs()", "dataset not found")


def test_error_module_without_name(capsys):
    pytest.importorskip("torchvision")
    assert_clean_error(*run_cli(capsys, "torchvision.models", "-i", "1,3,224,224"), "torchvision.models:")


def test_error_cuda_unavailable(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    path = write(tmp_path, "net.py", NET)
    assert_clean_error(*run_cli(capsys, path, "-i", "1,3,16,16", "--device", "cuda"), "CUDA")


def test_input_separators(tmp_path, capsys):
    path = write(tmp_path, "net.py", NET)
    code, out, err = run_cli(capsys, path, "-i", "1x3x16x16", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["input_shapes"] == [[1, 3, 16, 16]]


def test_model_file_not_mutated_by_cli_audit(tmp_path, capsys):
    """The CLI audits the loaded object; tensor constants fx creates must not stick to it."""
    from model_audit.target.loading import load_target

    path = write(tmp_path, "const.py", """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x) * torch.tensor([1.0, 2.0, 3.0, 4.0])

        model = Net()
    """)
    loaded = load_target(path)
    before = set(vars(loaded.model))
    first = audit(loaded.model, input_shape=(2, 4))
    second = audit(loaded.model, input_shape=(2, 4))
    assert set(vars(loaded.model)) == before
    assert [l.name for l in first.layers] == [l.name for l in second.layers]
    code, out, err = run_cli(capsys, path, "-i", "2,4", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["flops"] == first.flops
