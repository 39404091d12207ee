"""Property tests: random conv/pool/linear stacks against a real CPU forward pass and FlopCounterMode."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from model_audit import audit


def conv_out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def stacks(draw):
    """(model, input shape): 1-3 conv/pool layers with random hyper-parameters, then flatten + linear."""
    dims = draw(st.sampled_from([1, 2]))
    batch = draw(st.integers(1, 2))
    channels = draw(st.integers(1, 4)) * draw(st.sampled_from([1, 2]))
    size = draw(st.integers(8, 20))
    shape = (batch, channels) + (size,) * dims
    layers: list[nn.Module] = []
    conv = nn.Conv1d if dims == 1 else nn.Conv2d
    maxpool = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
    avgpool = nn.AvgPool1d if dims == 1 else nn.AvgPool2d
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool"]))
        k = draw(st.integers(1, 4))
        d = draw(st.integers(1, 2)) if kind != "avgpool" else 1
        s = draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        out = conv_out(size, k, s, p, d)
        if out < 1:
            continue
        if kind == "conv":
            divisors = [g for g in range(1, channels + 1) if channels % g == 0]
            g = draw(st.sampled_from(divisors))
            out_ch = g * draw(st.integers(1, 3))
            layers.append(conv(channels, out_ch, k, stride=s, padding=p, dilation=d, groups=g,
                               bias=draw(st.booleans())))
            channels = out_ch
        elif kind == "maxpool":
            layers.append(maxpool(k, stride=s, padding=p, dilation=d))
        else:
            layers.append(avgpool(k, stride=s, padding=p))
        layers.append(nn.ReLU())
        size = out
    features = channels * size ** dims
    layers += [nn.Flatten(), nn.Linear(features, draw(st.integers(1, 7)))]
    return nn.Sequential(*layers), shape


def real_shapes(model: nn.Module, shape) -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    handles = [m.register_forward_hook(lambda mod, inp, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
               for name, m in model.named_children()]
    try:
        with torch.no_grad():
            model(torch.randn(*shape))
    finally:
        for h in handles:
            h.remove()
    return shapes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks(), st.sampled_from(["meta", "cpu"]), st.sampled_from(["auto", "hooks"]))
def test_random_stack_shapes_and_macs(case, device, tracer):
    model, shape = case
    report = audit(model, input_shape=shape, device=device, tracer=tracer)
    expected = real_shapes(model, shape)
    got = {layer.name: layer.output_shape for layer in report.layers if layer.module is not None}
    assert got == expected
    x = torch.randn(*shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    assert 2 * report.macs == counter.get_total_flops()
    assert report.params == sum(p.numel() for p in model.parameters())
    assert sum(layer.macs for layer in report.layers) == report.macs
    assert sum(layer.flops for layer in report.layers) == report.flops
    assert report.flops >= 2 * report.macs
    assert not report.uncounted_ops
