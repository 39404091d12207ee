"""even-kernel and large-kernel: module and functional convolutions, both tracers, oracle weight counts."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from model_audit import audit

TRACERS = ["fx", "hooks"]


def run(model, shape, rule, tracer="auto", **kwargs):
    return audit(model, input_shape=shape, select=[rule], tracer=tracer, **kwargs).findings


class FunctionalConv(nn.Module):
    def __init__(self, c_in, c_out, k, stride=1, padding=0, groups=1):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in // groups, *k))
        self.stride, self.padding, self.groups = stride, padding, groups
        self.out = nn.Identity()  # a child: the tracers treat the module as a container, not a leaf


    def forward(self, x):
        return self.out(F.conv2d(x, self.weight, stride=self.stride, padding=self.padding, groups=self.groups))


# -- even-kernel

@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("functional", [False, True])
def test_even_kernel_fires(tracer, functional):
    conv = FunctionalConv(8, 8, (4, 4), padding=2) if functional else nn.Conv2d(8, 8, 4, padding=2)
    [finding] = run(nn.Sequential(conv, nn.ReLU()), (1, 8, 16, 16), "even-kernel", tracer)
    assert str(finding.severity) == "warning"
    assert finding.data == {"kernel": [4, 4], "stride": [1, 1], "even_axes": [0, 1]}
    assert finding.layer == {(False, "fx"): "0", (False, "hooks"): "0", (True, "fx"): "0.conv2d",
                             (True, "hooks"): "0.convolution"}[functional, tracer]


def test_even_kernel_along_one_axis_and_1d():
    [finding] = run(nn.Conv2d(4, 4, (1, 2)), (1, 4, 8, 8), "even-kernel")
    assert finding.data["even_axes"] == [1]
    [finding] = run(nn.Conv1d(4, 4, 6, padding=3), (1, 4, 32), "even-kernel")
    assert finding.data["kernel"] == [6]
    # Dilation decides the extent d(k-1)+1: two taps 2 apart (extent 3) have a centre; 3 apart (extent 4) do not.
    assert run(nn.Conv2d(4, 4, 2, dilation=2, padding=1), (1, 4, 8, 8), "even-kernel") == []
    assert len(run(nn.Conv2d(4, 4, 2, dilation=3), (1, 4, 8, 8), "even-kernel")) == 1


@pytest.mark.parametrize("conv", [
    nn.Conv2d(3, 96, 4, stride=4),                           # ConvNeXt / Swin patchify stem
    nn.Conv2d(3, 768, 16, stride=16),                        # ViT patch embedding
    nn.Conv2d(8, 8, 3, padding=1),
    nn.Conv2d(8, 8, 1),
    nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1),        # checkerboard-free upsampler
], ids=["patch4", "patch16", "3x3", "1x1", "transposed-4-2"])
def test_even_kernel_controls(conv):
    channels = conv.in_channels
    assert run(conv, (1, channels, 32, 32), "even-kernel") == []


def test_strided_even_kernel_that_divides_is_info():
    [finding] = run(nn.Conv2d(8, 16, 4, stride=2, padding=1), (1, 8, 32, 32), "even-kernel")  # DCGAN discriminator
    assert str(finding.severity) == "info"
    [finding] = run(nn.ConvTranspose2d(8, 8, 4, stride=3), (1, 8, 8, 8), "even-kernel")  # 4 % 3 != 0: overlap uneven
    assert str(finding.severity) == "warning"


# -- large-kernel

def stacked_weights(c_in, c_out, layers):
    """Oracle: PyTorch's own parameter count of the replacement stack (no bias)."""
    convs = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    convs += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False) for _ in range(layers - 1)]
    return sum(p.numel() for p in nn.Sequential(*convs).parameters())


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("k, layers", [(7, 3), (5, 2)])
def test_large_kernel_reports_the_saving(tracer, k, layers):
    conv = nn.Conv2d(64, 64, k, padding=k // 2, bias=False)
    [finding] = run(conv, (1, 64, 16, 16), "large-kernel", tracer)
    assert str(finding.severity) == "info"
    assert finding.data["weights"] == conv.weight.numel() == k * k * 64 * 64
    assert finding.data["stacked_weights"] == stacked_weights(64, 64, layers)
    assert finding.data["stacked_layers"] == layers
    if k == 7:
        assert finding.data["weights"] == 200_704 and finding.data["stacked_weights"] == 110_592
        assert "49C² vs 27C²" in finding.message and "45% fewer" in finding.message


def test_large_kernel_functional_and_uneven_channels():
    model = FunctionalConv(64, 32, (5, 5), padding=2)
    [finding] = run(model, (1, 64, 16, 16), "large-kernel")
    assert finding.layer == "conv2d" and finding.data["weights"] == 25 * 64 * 32
    assert finding.data["stacked_weights"] == stacked_weights(64, 32, 2) == 9 * 64 * 32 + 9 * 32 * 32
    # Widening 32 -> 64 the stack's second layer is 64 -> 64 and costs more than the 5x5: silent.
    assert stacked_weights(32, 64, 2) > 25 * 32 * 64
    assert run(FunctionalConv(32, 64, (5, 5), padding=2), (1, 32, 16, 16), "large-kernel") == []


@pytest.mark.parametrize("model, shape", [
    (nn.Conv2d(96, 96, 7, padding=3, groups=96), (1, 96, 14, 14)),        # ConvNeXt depthwise 7x7
    (FunctionalConv(96, 96, (5, 5), padding=2, groups=96), (1, 96, 14, 14)),  # EfficientNet depthwise 5x5
    (nn.Conv2d(3, 64, 7, stride=2, padding=3), (1, 3, 64, 64)),           # ResNet stem: strided
    (nn.Conv2d(3, 64, 7, padding=3), (1, 3, 32, 32)),                     # 3 input channels: the stack costs more
    (nn.Conv2d(64, 64, (1, 7), padding=(0, 3)), (1, 64, 17, 17)),         # Inception factorized 1x7
    (nn.Conv2d(64, 64, 3, padding=1), (1, 64, 16, 16)),
], ids=["depthwise7", "depthwise5-functional", "stem-stride2", "few-inputs", "1x7", "3x3"])
def test_large_kernel_controls(model, shape):
    assert run(model, shape, "large-kernel") == []


def test_large_kernel_option_min_kernel():
    conv = nn.Conv2d(64, 64, 5, padding=2)
    assert len(run(conv, (1, 64, 8, 8), "large-kernel")) == 1
    assert run(conv, (1, 64, 8, 8), "large-kernel", options={"large-kernel": {"min_kernel": 7}}) == []


def test_torchvision_convnext_and_inception_are_quiet():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        convnext = torchvision.models.convnext_tiny()
    findings = audit(convnext, input_shape=(1, 3, 224, 224), select=["large-kernel", "even-kernel"]).findings
    assert findings == []  # 7x7 depthwise, 4x4/4 stem, 2x2/2 downsampling
