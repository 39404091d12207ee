"""The peak's breakdown adds up to the peak (issue 13).

``at_peak`` splits ``peak_bytes`` by category, read from the blocks' alloc/free clocks at the peak's
tick; the live total it must reproduce is the tracker's running sum at that tick. A block freed
right after the peak's tick (AdamW's for-loop ``sqrt`` temporary) was counted dead there, so the
breakdown fell short of the peak. The oracle is the step's own two independent tallies: the running
total (peak, timeline) and the per-block intervals (breakdown, top layers) — plus, for the
top layers, the saved activations' real sizes.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from model_audit.analyses.memory import measure_step

import symbolic_models


def mlp() -> tuple[nn.Module, tuple]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 10)), \
        (torch.randn(4, 64),)


def cnn() -> tuple[nn.Module, tuple]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    return model, (torch.randn(2, 3, 16, 16),)


def gpt2() -> tuple[nn.Module, tuple]:
    return symbolic_models.gpt2(), (torch.randint(0, 512, (2, 32)),)


MODELS = {"mlp": mlp, "cnn": cnn, "gpt2": gpt2}
OPTIMIZERS = [("adamw", "forloop"), ("adamw", "foreach"), ("sgd-momentum", "forloop"), ("sgd-momentum", "foreach")]


def _check(step) -> None:
    assert step.peak_bytes > 0
    assert sum(step.at_peak.values()) == step.peak_bytes, (step.at_peak, step.peak_bytes)
    assert max(point["bytes"] for point in step.timeline) == step.peak_bytes
    # saved activations held at the peak can be no more than the activations category there
    assert sum(b for _, b in step.top_layers) <= step.at_peak.get("activations", 0)


@pytest.mark.parametrize("optimizer,impl", OPTIMIZERS, ids=[f"{o}-{i}" for o, i in OPTIMIZERS])
@pytest.mark.parametrize("name", list(MODELS))
def test_training_breakdown_adds_up_to_the_peak(name, optimizer, impl):
    model, args = MODELS[name]()
    _check(measure_step(model, args, {}, optimizer=optimizer, optimizer_impl=impl, amp_device="cpu"))


@pytest.mark.parametrize("name", list(MODELS))
def test_inference_breakdown_adds_up_to_the_peak(name):
    model, args = MODELS[name]()
    _check(measure_step(model, args, {}, kind="inference", amp_device="cpu"))


def test_adamw_forloop_sqrt_temporary_is_in_the_breakdown():
    """The optimizer step holds the peak of a wide MLP at batch 1; its for-loop AdamW makes one
    parameter-sized ``sqrt`` temporary at a time, freed right after the op that follows it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 512), nn.Linear(512, 512))
    step = measure_step(model, (torch.randn(1, 512),), {}, optimizer="adamw", optimizer_impl="forloop",
                        amp_device="cpu")
    assert step.peak_phase == "optimizer"
    weight = 512 * 512 * 4
    assert step.at_peak.get("temporaries", 0) >= weight  # the sqrt of one weight matrix at least
    assert sum(step.at_peak.values()) == step.peak_bytes
