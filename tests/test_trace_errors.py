"""Tracer errors name the failing layer (hooks as fx); deep models are not refused for their depth."""
from __future__ import annotations

import sys

import pytest
import torch
import torch.nn as nn

from model_audit import audit
from model_audit.errors import ModelExecutionError


class Block(nn.Module):
    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.fc = nn.Linear(i, o)

    def forward(self, x):
        return self.fc(x)


class Cat(nn.Module):
    """Fails in its own Python code (no leaf module running)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return torch.cat([self.fc(x), x[:1]], dim=1)


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("model,layer", [(lambda: nn.Sequential(Block(8, 8), Block(9, 8)), "layer '1.fc' (Linear)"),
                                         (lambda: nn.Sequential(Block(8, 8), Cat()), "layer '1' (Cat)")])
def test_hooks_tracer_names_the_failing_layer(model, layer, device) -> None:
    with pytest.raises(ModelExecutionError) as error:
        audit(model(), input_shape=(2, 8), tracer="hooks", device=device)
    assert str(error.value).startswith(layer), str(error.value)


def test_hooks_and_fx_name_the_same_leaf() -> None:
    messages = []
    for tracer in ("hooks", "fx"):
        with pytest.raises(ModelExecutionError) as error:
            audit(nn.Sequential(Block(8, 8), Block(9, 8)), input_shape=(2, 8), tracer=tracer)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


class Wrap(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + 1


def _deep(depth: int) -> nn.Module:
    model: nn.Module = nn.Linear(4, 4)
    for _ in range(depth):
        model = Wrap(model)
    return model


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
@pytest.mark.parametrize("depth", [210, 225])
def test_deeply_nested_models_audit(depth, tracer) -> None:
    limit = sys.getrecursionlimit()
    report = audit(_deep(depth), input_shape=(1, 4), tracer=tracer)
    assert sys.getrecursionlimit() == limit
    assert report.macs == 16  # Linear(4, 4) on one row
    assert report.flops == 2 * 16 + 4 + 4 * depth  # + bias, + one add of 4 elements per level


def test_endless_recursion_is_named_as_such() -> None:
    class Forever(nn.Module):
        def forward(self, x):
            return self(x)

    with pytest.raises(ModelExecutionError, match="recursion limit"):
        audit(Forever(), input_shape=(1, 4), tracer="hooks")
