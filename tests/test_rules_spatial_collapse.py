"""feature-map-collapse: maps smaller than the kernels after them, or 1×1 before global pooling."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from model_audit import audit

torchvision = pytest.importorskip("torchvision")


def findings(model, shape, **kwargs):
    return audit(model, input_shape=shape, select=["feature-map-collapse"], **kwargs).findings


def small_input_layers(model: nn.Module, shape) -> set[str]:
    """Oracle from PyTorch itself: run the model and record every conv/pool input smaller than its kernel,
    and every adaptive pool fed a 1×1 map."""
    hits: set[str] = set()

    def hook(name):
        def record(module, args, output):
            size = args[0].shape[2:]
            if isinstance(module, nn.AdaptiveAvgPool2d):
                if size.numel() == 1:
                    hits.add(name)
                return
            k = module.kernel_size if isinstance(module.kernel_size, tuple) else (module.kernel_size,) * 2
            if any(1 < kk and n < kk for n, kk in zip(size, k)):
                hits.add(name)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d))]
    with torch.no_grad():
        model.eval()(torch.zeros(shape))
    for handle in handles:
        handle.remove()
    return hits


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_resnet18_on_cifar_sized_input(tracer):
    model = torchvision.models.resnet18(num_classes=10)
    [finding] = findings(model, (1, 3, 32, 32), tracer=tracer)
    # 32 -> conv1/2 -> 16 -> maxpool/2 -> 8 -> layer2/2 -> 4 -> layer3/2 -> 2: layer3.0.conv2 sees 2×2
    assert finding.layer == "layer3.0.conv2"
    assert finding.data["input_size"] == [2, 2] and finding.data["kernel"] == [3, 3]
    assert set(finding.data["affected_layers"]) | {finding.layer} == small_input_layers(model, (1, 3, 32, 32))
    assert "the model input is 32×32" in finding.message


def test_resnet18_at_224_is_quiet():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    assert findings(model, (1, 3, 224, 224)) == []


def test_vgg_on_small_input():
    with torch.device("meta"):
        model = torchvision.models.vgg11()
    [finding] = findings(model, (1, 3, 32, 32))
    assert finding.layer == "features.16" and finding.data["input_size"] == [2, 2]  # after four 2×2 pools
    assert finding.data["affected_layers"] == ["features.18"]
    # The 2×2 max pool on the 2×2 map spans it (a global step), so the adaptive pool after it is not reported.
    from torchvision.models.vgg import cfgs, make_layers

    trunk = make_layers(cfgs["A"])  # vgg11's features: the oracle runs the real convolutions
    assert {f"features.{n}" for n in small_input_layers(trunk, (1, 3, 32, 32))} == {"features.16", "features.18"}


class Collapse(nn.Module):
    """A 1×1 stride-2 convolution takes 2×2 to 1×1 (keeping one position of four), then the end."""

    def __init__(self, end: str, squeeze_kernel: int = 1):
        super().__init__()
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)   # 4 -> 2
        self.squeeze = nn.Conv2d(8, 8, squeeze_kernel, stride=2)  # 2 -> 1
        self.end = end
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.squeeze(self.down(x))
        if self.end == "mean":
            x = x.mean((2, 3))
        elif self.end == "adaptive":
            x = F.adaptive_avg_pool2d(x, (7, 7)).flatten(1)[:, :8]
        elif self.end == "maxpool":
            x = F.max_pool2d(x, 3, stride=1, padding=1).flatten(1)
        else:
            x = x.flatten(1)
        return self.fc(x)


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_functional_forms(tracer):
    [finding] = findings(Collapse("mean"), (1, 8, 4, 4), tracer=tracer)
    assert finding.data["input_size"] == [1, 1] and "global pooling averages it" in finding.message
    assert finding.data["collapsed_at"] == "squeeze"
    [finding] = findings(Collapse("adaptive"), (1, 8, 4, 4), tracer=tracer)
    assert "adaptive pooling to 7×7 copies it" in finding.message
    [finding] = findings(Collapse("maxpool"), (1, 8, 4, 4), tracer=tracer)
    assert finding.data == {"input_size": [1, 1], "kernel": [3, 3], "affected_layers": []}


def test_controls():
    assert findings(Collapse("flatten"), (1, 8, 4, 4)) == []  # collapsing at the end of the trunk is a design
    # A valid 2×2 convolution on the 2×2 map is itself global (Inception's aux head): the pooling after it is a no-op.
    assert findings(Collapse("mean", squeeze_kernel=2), (1, 8, 4, 4)) == []
    dcgan_head = nn.Sequential(nn.Conv2d(8, 1, 4), nn.Flatten())  # 4×4 valid conv to 1×1
    assert findings(dcgan_head, (2, 8, 4, 4)) == []
    squeeze_excite = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 8, 1))
    assert findings(squeeze_excite, (1, 8, 7, 7)) == []
    assert findings(nn.Conv1d(4, 4, 5, padding=2), (1, 4, 16)) == []


def test_conv1d_sequence_shorter_than_kernel():
    [finding] = findings(nn.Sequential(nn.Conv1d(4, 4, 7, padding=3)), (1, 4, 5))
    assert finding.data["input_size"] == [5] and finding.data["kernel"] == [7]
