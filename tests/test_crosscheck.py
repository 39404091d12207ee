"""--cross-check fvcore: fvcore's counts beside model-audit's, per module, with every difference explained."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

pytest.importorskip("fvcore")
torchvision = pytest.importorskip("torchvision")

from model_audit import audit  # noqa: E402
from model_audit.compare.fvcore import fvcore_crosscheck  # noqa: E402
from model_audit.cli.main import main  # noqa: E402
from model_audit.render.crosscheck import crosscheck_columns, render_crosscheck  # noqa: E402
from model_audit.render.rollup import rows  # noqa: E402
from model_audit.render.table import render_table  # noqa: E402

SHAPE = (1, 3, 224, 224)


def _state(model: nn.Module) -> tuple:
    return (model.training, [(n, p.device, p.requires_grad, p.data_ptr()) for n, p in model.named_parameters()],
            [(n, b.device) for n, b in model.named_buffers()])


def test_resnet18_totals_agree_exactly_with_fvcore():
    from fvcore.nn import FlopCountAnalysis

    model = torchvision.models.resnet18().eval()
    before = _state(model)
    report = audit(model, input_shape=SHAPE)
    check = fvcore_crosscheck(model, None, SHAPE, report)
    assert _state(model) == before  # fvcore ran on a copy

    raw = FlopCountAnalysis(model, torch.randn(*SHAPE))
    raw.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    assert check.fvcore_total == raw.total()  # what fvcore users see, unchanged
    assert check.fvcore_macs == report.macs == 1_814_073_344  # conv + linear: exactly equal
    assert check.fvcore_total - check.fvcore_other == report.macs
    assert check.by_operator["batch_norm"] + check.by_operator["adaptive_avg_pool2d"] == check.fvcore_other
    assert check.status == "match" and check.diff == 0 and check.skipped_macs == 0
    assert all(m.status == "match" for m in check.modules)
    assert check.module("layer1.0.conv1").ours == check.module("layer1.0.conv1").fvcore == 115_605_504
    assert check.ratio == pytest.approx(report.macs / raw.total())

    text = render_crosscheck(check)
    assert "every module agrees" in text and "MACs agree exactly" in text and "batch_norm" in text
    json.dumps(check.to_dict())


def test_meta_model_is_materialized_on_a_copy():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    model.eval()
    report = audit(model, input_shape=SHAPE)
    check = fvcore_crosscheck(model, None, SHAPE, report)
    assert all(p.device.type == "meta" for p in model.parameters())  # still meta: never materialized
    assert check.status == "match" and check.fvcore_macs == report.macs
    assert any("meta device" in note for note in check.notes)


def test_vit_differences_are_exactly_the_attention_fvcore_skips():
    model = torchvision.models.vit_b_16().eval()
    report = audit(model, input_shape=SHAPE)
    check = fvcore_crosscheck(model, None, SHAPE, report)
    assert report.macs == 17_563_828_224
    assert check.fvcore_total == 16_867_412_736  # fvcore's well-known 16.87G
    # per layer fvcore misses softmax(QK^T)V: 2 * heads(12) * 197 * 197 * 64 MACs
    per_layer = 2 * 12 * 197 * 197 * 64
    assert check.skipped == {"aten::scaled_dot_product_attention": 12}
    assert check.skipped_macs == check.diff == 12 * per_layer
    assert check.residual == 0 and check.status == "explained"
    attn = check.module("encoder.layers.encoder_layer_3.self_attention")
    assert attn.diff == per_layer and attn.status == "explained"
    assert "scaled_dot_product_attention" in " ".join(attn.reasons)
    assert check.module("encoder.layers.encoder_layer_3.mlp").status == "match"
    assert check.module("conv_proj").status == "match" and check.module("heads").status == "match"
    assert not [m for m in check.modules if m.status == "unexplained"]

    columns = crosscheck_columns(check)
    by_name = {row.name: row for row in rows(report, depth=3)}
    assert columns["vs fvcore"](by_name["encoder.layers.encoder_layer_0"]) == "+59.61M (sdpa)"
    assert columns["vs fvcore"](by_name["conv_proj"]) == "="
    assert "every difference is explained" in render_crosscheck(check)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_small_transformer_encoder_differences_explained(mode):
    torch.manual_seed(0)
    model = Encoder()
    model.train(mode == "train")
    report = audit(model, input_shape=(2, 16, 32), mode=mode)
    check = fvcore_crosscheck(model, None, (2, 16, 32), report)
    assert model.training == (mode == "train")
    sdpa = 2 * (2 * 4) * 16 * 16 * 8  # per layer: QK^T and AV, batch 2, 4 heads, head dim 8
    assert check.skipped_macs == check.diff == 2 * sdpa
    assert check.status == "explained" and check.residual == 0
    assert check.module("head").status == "match"
    linear1 = check.module("encoder.layers.0.linear1")
    if linear1.counted_at is None:  # model-audit has a row for linear1: both count the same Linear
        assert linear1.status == "match"
        assert check.module("encoder.layers.1").diff == sdpa
    else:  # model-audit counts the encoder as one layer (fused fast path / leaf): fvcore sees its children
        assert linear1.status == "explained" and linear1.counted_at in ("encoder", "encoder.layers.0")
        assert "counts this work in" in " ".join(linear1.reasons)
    assert check.module("encoder").diff == 2 * sdpa
    assert "layer_norm" in check.by_operator  # fvcore adds norms to its total; we keep them out of MACs


def test_cli_cross_check_table(capsys):
    code = main(["torchvision.models:resnet18", "--input", "1,3,224,224", "--depth", "1", "--cross-check", "fvcore"])
    out = capsys.readouterr().out
    assert code == 0
    assert "fvcore MACs" in out and "vs fvcore" in out
    assert "cross-check: fvcore" in out and "MACs agree exactly" in out
    layer1 = next(line for line in out.splitlines() if line.startswith("layer1 "))
    assert layer1.rstrip().endswith("=")


def test_cli_cross_check_json(capsys):
    code = main(["torchvision.models:resnet18", "--input", "1,3,224,224", "--format", "json",
                 "--cross-check", "fvcore"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    check = data["cross_check"]
    assert check["tool"] == "fvcore" and check["status"] == "match"
    assert check["fvcore_macs"] == check["model_audit_macs"] == data["summary"]["macs"]
    assert check["fvcore_total"] == 1_819_065_856
    assert {m["name"] for m in check["modules"]} >= {"", "conv1", "layer4.1.conv2", "fc"}


def test_render_table_with_crosscheck_columns_on_every_layer():
    model = Encoder().eval()
    report = audit(model, input_shape=(2, 16, 32))
    check = fvcore_crosscheck(model, None, (2, 16, 32), report)
    text = render_table(report, columns=crosscheck_columns(check))
    assert "vs fvcore" in text


def test_missing_fvcore_is_a_clear_error(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_fvcore(name, *args, **kwargs):
        if name == "fvcore" or name.startswith("fvcore."):
            raise ImportError("No module named 'fvcore'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fvcore)
    code = main(["torchvision.models:resnet18", "--input", "1,3,224,224", "--cross-check", "fvcore"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install 'model-audit[fvcore]'" in err and "Traceback" not in err


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(y)


def test_keyword_inputs_are_passed_through_a_wrapper():
    model = TwoInputs()
    inputs = {"x": torch.randn(3, 8), "y": torch.randn(3, 6)}
    report = audit(model, inputs)
    check = fvcore_crosscheck(model, inputs, None, report)
    assert check.status == "match" and check.fvcore_macs == report.macs == 3 * 8 * 4 + 3 * 6 * 4
    assert {m.name for m in check.modules} == {"", "a", "b"}
