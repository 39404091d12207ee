"""batchnorm-small-batch: values per channel = batch × spatial, only where batch statistics are used."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from model_audit import ModelExecutionError, audit


def findings(model, shape, **kwargs):
    return audit(model, input_shape=shape, select=["batchnorm-small-batch"], **kwargs).findings


def values_per_channel(shape):
    """Oracle: what BatchNorm averages over per channel — every element but the channel axis."""
    return math.prod(shape) // shape[1]


class Head(nn.Module):
    """Global pooling then a BatchNorm1d on [N, C]: N values per channel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x):
        return self.bn(self.fc(self.pool(self.conv(x)).flatten(1)))


class FunctionalBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=4)

    def forward(self, x):
        return F.batch_norm(self.conv(x), None, None, training=True)


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_train_mode_small_batch_warns(tracer):
    [finding] = findings(Head(), (4, 3, 8, 8), mode="train", tracer=tracer)
    assert finding.layer == "bn" and str(finding.severity) == "warning"
    assert finding.data == {"values_per_channel": values_per_channel((4, 16)), "batch_size": 4, "threshold": 8}


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_spatial_positions_count(tracer):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.BatchNorm2d(8))  # 8x8 -> 2x2
    [finding] = findings(model, (1, 3, 8, 8), mode="train", tracer=tracer)
    assert finding.data["values_per_channel"] == values_per_channel((1, 8, 2, 2)) == 4
    assert findings(model, (2, 3, 8, 8), mode="train", tracer=tracer) == []  # 8 values: at the threshold


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_functional_batch_norm(tracer):
    [finding] = findings(FunctionalBN(), (1, 3, 8, 8), tracer=tracer)  # training=True even in eval mode
    assert finding.data["values_per_channel"] == 4


def test_eval_mode_uses_running_statistics():
    assert findings(Head(), (1, 3, 8, 8)) == []
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, track_running_stats=False))
    [finding] = findings(model, (4, 8))  # no running stats: batch statistics in eval mode too
    assert finding.data["values_per_channel"] == 4


def test_batch_size_option_checks_any_mode_and_one_value_is_an_error():
    [finding] = findings(Head(), (1, 3, 8, 8), options={"batchnorm-small-batch": {"batch_size": 1}})
    assert str(finding.severity) == "error" and finding.data["values_per_channel"] == 1
    assert "option batch-size" in finding.message
    # Oracle: PyTorch refuses to train that BatchNorm at batch size 1.
    bn = nn.BatchNorm1d(16).train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn(torch.randn(1, 16))
    assert findings(Head(), (1, 3, 8, 8), options={"batchnorm-small-batch": {"batch_size": 32}}) == []


def test_training_at_batch_one_fails_the_audit_itself():
    with pytest.raises(ModelExecutionError, match="Expected more than 1 value per channel"):
        audit(Head(), input_shape=(1, 3, 8, 8), mode="train")


@pytest.mark.parametrize("norm", [nn.LayerNorm([8, 2, 2]), nn.GroupNorm(2, 8), nn.InstanceNorm2d(8)])
def test_other_norms_never(norm):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), norm)
    assert findings(model, (1, 3, 8, 8), mode="train") == []


def test_min_values_option():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.BatchNorm2d(8))
    assert findings(model, (4, 3, 8, 8), mode="train") == []  # 16 values
    [finding] = findings(model, (4, 3, 8, 8), mode="train", options={"batchnorm-small-batch": {"min_values": 32}})
    assert finding.data == {"values_per_channel": 16, "batch_size": 4, "threshold": 32}


def test_torchvision_resnet_batch_one_eval_is_quiet():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    assert findings(model, (1, 3, 224, 224)) == []
    assert findings(model, (2, 3, 224, 224), mode="train") == []  # 2·7·7 = 98 values at the last BatchNorm
