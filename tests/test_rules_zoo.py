"""Acceptance: the built-in rules stay silent (no warning, no error) on all 80 torchvision classifiers.

These are well-designed models that contain every near miss the rules document: squeeze-excitation
sigmoid/hardsigmoid gates (EfficientNet, MobileNetV3, RegNet), patchify stems (ViT, Swin,
ConvNeXt), MobileNetV2 linear bottlenecks, depthwise→pointwise factorizations (ConvNeXt,
ShuffleNet, MNASNet), ViT's p = 0 dropouts, Inception's unpadded stems, VGG-BN's conv biases. Info
findings are allowed (VGG-BN's cancelled biases are real, just harmless). Models are built exactly
as the metadata zoo test builds them, audited once each, in eval mode at their evaluation size.
"""
from __future__ import annotations

import pytest
import torch.nn as nn

torchvision = pytest.importorskip("torchvision")
from torchvision.models import get_model_weights  # noqa: E402

from model_audit import audit  # noqa: E402
from model_audit.report.finding import Severity  # noqa: E402
from model_audit.rules.registry import default_registry  # noqa: E402
from test_torchvision_zoo import MODELS, _build  # noqa: E402

PATH_RULES = {"sigmoid-vanishing-gradient", "missing-padding", "dropout-before-batchnorm", "missing-nonlinearity",
              "bias-before-batchnorm"}


def _audit(name: str):
    weights = get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size
    height, width = (crop[0], crop[-1]) if isinstance(crop, (list, tuple)) else (crop, crop)
    model = _build(name, weights)
    return model, audit(model, input_shape=(1, 3, height, width), group=False)  # per-layer figures


def test_path_rules_are_registered():
    assert PATH_RULES <= set(default_registry().rules)


@pytest.mark.parametrize("name", MODELS, ids=MODELS)
def test_no_warning_or_error_on_torchvision_model(name):
    _, report = _audit(name)
    assert not [note for note in report.notes if note.startswith("rule ")], report.notes  # every rule ran
    loud = [f"{f.severity} {f.rule} [{f.layer}] {f.message}" for f in report.findings if f.severity >= Severity.WARNING]
    assert not loud, "\n".join(loud)


def test_vgg_bn_cancelled_biases_are_counted_exactly():
    """Every conv of vgg11_bn keeps its bias and feeds a BatchNorm2d: the wasted parameters are those biases."""
    model, report = _audit("vgg11_bn")
    findings = [f for f in report.findings if f.rule == "bias-before-batchnorm"]
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len(findings) == len(convs) == 8
    assert all(f.severity == Severity.INFO for f in findings)
    assert sum(f.data["wasted_params"] for f in findings) == sum(conv.bias.numel() for conv in convs) == 2752
