"""The path rules' figures against PyTorch itself: derivative bounds, lost area, merged weights, wasted biases."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_audit import audit
from model_audit.report.finding import Severity


def _findings(report, rule):
    return [f for f in report.findings if f.rule == rule]


@pytest.mark.parametrize("activation,k", [(nn.Sigmoid, 3), (nn.Tanh, 4), (nn.Hardsigmoid, 3)])
def test_sigmoid_chain_bound_is_an_upper_bound_autograd_reaches(activation, k):
    """The reported bound ∏ max f' bounds the derivative autograd measures through the chain."""
    chain = nn.Sequential(*[activation() for _ in range(k)])
    model = nn.Sequential(nn.Linear(8, 8), *[m for i in range(k) for m in (chain[i], nn.Identity())], nn.Linear(8, 2))
    (finding,) = _findings(audit(model, input_shape=(2, 8)), "sigmoid-vanishing-gradient")
    assert finding.layer == "0" and finding.data["depth"] == k
    z = torch.linspace(-6, 6, 2001, requires_grad=True)
    (grad,) = torch.autograd.grad(chain(z).sum(), z)  # elementwise: d chain(z_i) / d z_i
    assert grad.abs().max().item() <= finding.data["bound"] + 1e-7
    if activation is nn.Tanh:  # tight at 0: tanh'(0) = 1 and tanh(0) = 0 at every level
        assert grad.abs().max().item() == pytest.approx(finding.data["bound"])
    # tanh's bound is 1 (reached at 0): no attenuation is guaranteed, so a tanh-only chain is info.
    assert finding.severity == (Severity.INFO if activation is nn.Tanh else Severity.WARNING)


def test_sigmoid_depth_thresholds_are_options():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 1))
    assert not _findings(audit(model, input_shape=(1, 4)), "sigmoid-vanishing-gradient")
    report = audit(model, input_shape=(1, 4),
                   options={"sigmoid-vanishing-gradient": {"warning_depth": 1, "error_depth": 2}})
    (finding,) = _findings(report, "sigmoid-vanishing-gradient")
    assert finding.severity == Severity.ERROR and finding.data["bound"] == 0.25 ** 2


def test_missing_padding_area_lost_matches_the_real_output_size():
    """For stride-1 stacks the area lost is 1 - (H_out·W_out)/(H_in·W_in), with the sizes torch produces."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 5), nn.ReLU(), nn.Conv2d(8, 8, (3, 1)))
    x = torch.randn(1, 3, 40, 30)
    out = model(x)
    findings = _findings(audit(model, x, group=False), "missing-padding")
    assert [f.layer for f in findings] == ["0", "2", "4"]
    last = max(findings, key=lambda f: f.data["area_lost"])
    expected = 1 - (out.shape[2] * out.shape[3]) / (40 * 30)
    assert last.data["area_lost"] == pytest.approx(expected)
    assert last.data["output_size"] == list(out.shape[2:])
    assert last.severity == Severity.INFO  # 31% < 50%
    strict = audit(model, x, options={"missing-padding": {"warning_loss": 0.1, "error_loss": 0.3}})
    assert max(f.severity for f in _findings(strict, "missing-padding")) == Severity.ERROR


def test_missing_padding_error_when_the_map_is_smaller_than_the_next_window():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 5, padding=2))
    (finding,) = _findings(audit(model, input_shape=(1, 1, 6, 6)), "missing-padding")
    assert finding.layer == "0" and finding.severity == Severity.ERROR
    assert finding.data["smaller_than_next"] == "2" and finding.data["output_size"] == [4, 4]


@pytest.mark.parametrize("p,severity", [(0.05, Severity.INFO), (0.2, Severity.WARNING), (0.6, Severity.ERROR),
                                        (0.0, None)])
def test_dropout_before_batchnorm_severity_by_p(p, severity):
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(p), nn.ReLU(), nn.Linear(8, 8), nn.BatchNorm1d(8))
    findings = _findings(audit(model, input_shape=(4, 8)), "dropout-before-batchnorm")
    if severity is None:
        assert findings == []
    else:
        (finding,) = findings
        assert finding.severity == severity and finding.data["p"] == p
        assert finding.data["batchnorm"] == "4" and finding.data["path"] == ["2", "3"]


def test_batchnorm_without_running_stats_has_no_variance_shift():
    model = nn.Sequential(nn.Dropout(0.3), nn.Linear(8, 8), nn.BatchNorm1d(8, track_running_stats=False))
    assert not _findings(audit(model, input_shape=(4, 8)), "dropout-before-batchnorm")


def _support(f, shape, center):
    """Input positions that influence one output position: the effective kernel, measured by autograd."""
    x = torch.zeros(shape, requires_grad=True)
    out = f(x)
    (grad,) = torch.autograd.grad(out[0, :, center, center].sum(), x)
    rows = grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = grad.abs().sum(dim=(0, 1, 2)).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_missing_nonlinearity_merged_weights_equal_the_composed_operator():
    """conv3×3 → BN → conv3×3 is one conv whose kernel autograd measures as 5×5: C_in·C_out·25 weights."""
    conv1, bn, conv2 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.Conv2d(16, 8, 3, padding=1)
    model = nn.Sequential(conv1, bn, conv2).eval()
    with torch.no_grad():
        for conv in (conv1, conv2):
            conv.weight.uniform_(0.5, 1.0)  # no cancellation: the support is the full composed kernel
    (finding,) = _findings(audit(model, input_shape=(1, 3, 16, 16), device="cpu"), "missing-nonlinearity")
    height, width = _support(model, (1, 3, 16, 16), 8)
    assert (height, width) == (5, 5)
    assert finding.data["merged_weights"] == 3 * 8 * height * width
    assert finding.data["weights"] == conv1.weight.numel() + conv2.weight.numel()
    assert finding.data["second"] == "2" and finding.data["between"] == ["1"]


def test_missing_nonlinearity_linear_pair_is_the_matrix_product():
    first, second = nn.Linear(64, 48), nn.Linear(48, 32)  # 48 > min(64, 32): not a bottleneck
    model = nn.Sequential(first, nn.Dropout(0.1), second)
    (finding,) = _findings(audit(model, input_shape=(2, 64)), "missing-nonlinearity")
    assert finding.data["merged_weights"] == (second.weight @ first.weight).numel() == 64 * 32


def test_missing_nonlinearity_factorizations_only_with_the_option_off():
    separable = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.Conv2d(16, 32, 1),
                              nn.ReLU())
    assert not _findings(audit(separable, input_shape=(1, 16, 8, 8)), "missing-nonlinearity")
    report = audit(separable, input_shape=(1, 16, 8, 8),
                   options={"missing-nonlinearity": {"allow_factorizations": False}})
    assert [f.layer for f in _findings(report, "missing-nonlinearity")] == ["0"]


def test_bias_before_batchnorm_counts_the_cancelled_biases():
    conv, linear = nn.Conv2d(3, 24, 3, padding=1), nn.Linear(24, 40)
    model = nn.Sequential(conv, nn.Dropout(0.0), nn.BatchNorm2d(24), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          linear, nn.BatchNorm1d(40))
    findings = _findings(audit(model, input_shape=(2, 3, 8, 8)), "bias-before-batchnorm")
    assert {f.layer: f.data["wasted_params"] for f in findings} == {"0": conv.bias.numel(), "6": linear.bias.numel()}
    assert all(f.severity == Severity.INFO for f in findings)


_conv = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1))  # k, s, d, p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(_conv, min_size=1, max_size=4), size=st.integers(24, 48))
def test_missing_padding_flags_exactly_the_overlapping_unpadded_convs(specs, size):
    """Flagged layers: d(k-1)+1 > s with p = 0 and a window smaller than the map; sizes as torch computes them."""
    layers, n, expected = [], size, {}
    for i, (k, s, d, p) in enumerate(specs):
        window = d * (k - 1) + 1
        if window > n + 2 * p:
            break  # torch would reject the layer
        layers += [nn.Conv2d(4, 4, k, stride=s, dilation=d, padding=p), nn.ReLU()]
        out = (n + 2 * p - window) // s + 1
        if window > s and p == 0 and window < n:
            expected[str(2 * i)] = (n, out)
        n = out
    model = nn.Sequential(*layers)
    x = torch.randn(1, 4, size, size)
    sizes = {}
    for name, module in model.named_children():
        y = module(x)
        sizes[name] = (x.shape[-1], y.shape[-1])
        x = y
    findings = _findings(audit(model, input_shape=(1, 4, size, size), group=False), "missing-padding")
    assert {f.layer for f in findings} == set(expected)
    for f in findings:
        assert (f.data["input_size"][0], f.data["output_size"][0]) == sizes[f.layer] == expected[f.layer]
        assert 0 < f.data["area_lost"] < 1
