"""Receptive fields against an independent oracle: the support of the input gradient.

Oracle: a linear copy of the model (all weights positive, no nonlinearity, max-pool replaced by
avg-pool of the same geometry, float64) — then output unit ``u``'s window is exactly the set of
input positions with a non-zero gradient, since positive weights cannot cancel. Convention: along
each axis (the other axes held at their central unit) we take the middle output units whose
gradient support lies strictly inside the input (``lo > 0`` and ``hi < n - 1``: not clipped by
padding); then ``size = hi - lo + 1`` (the extent, so misaligned branches count their gap),
``stride = lo(u + 1) - lo(u)`` and ``start = lo(u) - u·stride`` (the theoretical, possibly
negative, first input index of unit 0's window).
"""
from __future__ import annotations

import copy
import json
import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from model_audit import audit
from model_audit.analyses.receptive_field import annotate_receptive_fields

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
AVG = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
MAX = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
C = 2


# ---------------------------------------------------------------------------------------------- oracle


class Residual(nn.Module):
    def __init__(self, branch: nn.Module) -> None:
        super().__init__()
        self.branch = branch

    def forward(self, x):
        return x + self.branch(x)



def strict_graph(model, inputs=None, *, rules=None, **kw):
    """The traced graph with the receptive-field analysis re-run in strict mode (unexpected errors raise)."""
    from model_audit.api import AuditOptions, trace_and_analyse

    graph = trace_and_analyse(model, inputs, AuditOptions(**kw))
    annotate_receptive_fields(graph, strict=True)
    return graph

def build(spec: list[dict], nd: int, oracle: bool) -> nn.Module:
    """The stack ``spec`` describes; ``oracle=True`` gives its linear, positive-weight twin."""
    layers: list[nn.Module] = []
    for item in spec:
        k, s, p, d = item["k"], item["s"], item["p"], item["d"]
        if item["op"] == "conv":
            layers.append(CONV[nd](C, C, k, stride=s, padding=p, dilation=d, groups=item["g"]))
        elif item["op"] == "res":
            layers.append(Residual(CONV[nd](C, C, k, padding="same", dilation=d)))
        elif item["op"] == "avg":
            layers.append(AVG[nd](k, s, p, ceil_mode=item["ceil"]))
        elif oracle:  # max-pool -> a pooling of the same geometry with positive weights
            if all(x == 1 for x in d):
                layers.append(AVG[nd](k, s, p, ceil_mode=item["ceil"]))
            else:  # avg-pool has no dilation: an all-ones depthwise conv is the same window
                layers.append(CONV[nd](C, C, k, stride=s, padding=p, dilation=d, groups=C, bias=False))
        else:
            layers.append(MAX[nd](k, s, p, dilation=d, ceil_mode=item["ceil"]))
        if not oracle:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    if oracle:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
        model = model.double()
    return model.eval()


def measured_field(oracle: nn.Module, shape: tuple[int, ...], units: int = 7, margins: list[int] | None = None) -> dict:
    """size/stride/start per axis from the gradient support of central, unclipped output units.

    A unit counts as unclipped when its support stays more than ``margins[axis]`` px from both borders
    (dilated kernels have holes: a tap lost past the border can leave the rest looking interior).
    """
    x = torch.ones(shape, dtype=torch.float64, requires_grad=True)
    out = oracle(x)
    nd = len(shape) - 2
    result = {"size": [], "stride": [], "start": []}
    for axis in range(nd):
        length = out.shape[2 + axis]
        centre = [(out.shape[2 + b] - 1) // 2 for b in range(nd)]
        windows = {}
        for u in range(max(0, length // 2 - units // 2), min(length, length // 2 + units // 2 + 1)):
            index = list(centre)
            index[axis] = u
            (grad,) = torch.autograd.grad(out[(0, slice(None), *index)].sum(), x, retain_graph=True)
            support = grad[0].abs().sum(0) > 0
            other = tuple(b for b in range(nd) if b != axis)
            positions = torch.nonzero(support.any(dim=other) if other else support).flatten().tolist()
            if not positions:  # the window lies entirely in the padding
                continue
            lo, hi = positions[0], positions[-1]
            margin = margins[axis] if margins else 0
            if lo > margin and hi < shape[2 + axis] - 1 - margin:
                windows[u] = (lo, hi)
        pairs = [u for u in windows if u + 1 in windows]
        assert pairs, f"no two neighbouring unclipped units along axis {axis}: {windows}"
        sizes = {hi - lo + 1 for lo, hi in windows.values()}
        strides = {windows[u + 1][0] - windows[u][0] for u in pairs}
        assert len(sizes) == 1 and len(strides) == 1, (windows, sizes, strides)
        stride = strides.pop()
        starts = {lo - u * stride for u, (lo, _) in windows.items()}
        assert len(starts) == 1
        result["size"].append(sizes.pop())
        result["stride"].append(stride)
        result["start"].append(starts.pop())
    return result


# ---------------------------------------------------------------------------------------------- hypothesis


@st.composite
def stacks(draw):
    nd = draw(st.integers(1, 3))
    max_k, max_s, max_layers = {1: (5, 3, 4), 2: (4, 2, 3), 3: (3, 2, 2)}[nd]
    spec = []
    for _ in range(draw(st.integers(1, max_layers))):
        op = draw(st.sampled_from(["conv", "avg", "max", "res"]))
        k = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
        s = tuple(draw(st.integers(1, max_s)) for _ in range(nd))
        d = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if op in ("conv", "max", "res") else (1,) * nd
        eff = tuple((ki - 1) * di + 1 for ki, di in zip(k, d))
        if op == "conv":
            p = tuple(draw(st.integers(0, ki)) for ki in eff)
        elif op == "res":
            p, s = "same", (1,) * nd
        else:  # PyTorch: padding at most half the (effective) kernel
            p = tuple(draw(st.integers(0, (e if op == "max" else ki) // 2)) for ki, e in zip(k, eff))
        ceil = draw(st.booleans()) if op == "avg" or (op == "max" and d == (1,) * nd) else False
        spec.append({"op": op, "k": k, "s": s, "p": p, "d": d, "ceil": ceil, "g": draw(st.sampled_from([1, C]))})
    return nd, spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(stacks())
def test_random_stacks_match_gradient_support(case):
    nd, spec = case
    model = build(spec, nd, oracle=False)
    # Size the input from the theory only to make room for unclipped units; the oracle decides.
    theory = _theory(model, nd)
    assume(theory is not None)
    dilation = max(max(item["d"]) for item in spec)
    margins = [2 * theory["stride"][a] * dilation for a in range(nd)]  # room for holes of dilated taps
    sizes = [theory["size"][a] + 2 * abs(theory["start"][a]) + 2 * margins[a] + 6 * theory["stride"][a] + 2
             for a in range(nd)]
    cap = {1: 3000, 2: 160, 3: 48}[nd]
    assume(all(n <= cap for n in sizes))
    shape = (1, C, *sizes)
    report = audit(model, input_shape=shape, rules=False)
    (output,) = report.outputs
    reported = report.layer(output).attrs["receptive_field"]
    assert reported == measured_field(build(spec, nd, oracle=True), shape, margins=margins), spec


def _theory(model: nn.Module, nd: int) -> dict | None:
    """The analysis on a large input, used only to choose an input size the oracle can measure."""
    for n in (512, 128, 48):
        try:
            report = audit(model, input_shape=(1, C) + (n,) * nd, rules=False)
        except Exception:
            continue
        return report.layer(report.outputs[0]).attrs["receptive_field"]
    return None


# ---------------------------------------------------------------------------------------------- hand-checked


def rf_of(model: nn.Module, shape: tuple[int, ...], layer: str | None = None, **kw):
    report = audit(model, input_shape=shape, rules=False, **kw)
    strict_graph(model, input_shape=shape, rules=False, **kw)
    return report.layer(layer or report.outputs[0]).attrs["receptive_field"], report


@pytest.mark.parametrize("layers, dilation, expected", [(2, 1, 5), (3, 1, 7), (1, 2, 5)])
def test_stacked_3x3(layers, dilation, expected):
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=dilation, dilation=dilation) for _ in range(layers)])
    rf, _ = rf_of(model, (1, 1, 32, 32))
    assert rf == {"size": [expected] * 2, "stride": [1, 1], "start": [-(expected // 2)] * 2}


def _vision(name: str, **kwargs) -> nn.Module:
    import torchvision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device("meta"):
            return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def test_published_fields_vgg16_alexnet_resnet50():
    """Araujo, Norris & Sim (Distill 2019), Table 1 — r does not depend on padding; start does.

    vgg_16 r=212 and alexnet_v2 r=195 are their pool5 (= torchvision ``features.30`` / ``features.12``;
    conv5_3 itself is 196); resnet_v1_50 r=483 is TF-slim's block4, which subsamples at the *last*
    unit of blocks 1-3 — torchvision's ResNet-50 subsamples in the first unit (on the 3×3, v1.5),
    so its layer4 field is 427; moving the stride to the last unit's 3×3 reproduces 483.
    """
    vgg = _vision("vgg16")
    rf, _ = rf_of(vgg, (1, 3, 224, 224), "features.30")
    assert rf["size"] == [212, 212] and rf["stride"] == [32, 32]
    assert rf_of(vgg, (1, 3, 224, 224), "features.28")[0]["size"] == [196, 196]  # conv5_3
    alex = _vision("alexnet")
    rf, _ = rf_of(alex, (1, 3, 224, 224), "features.12")
    assert rf["size"] == [195, 195] and rf["stride"] == [32, 32]
    resnet = _vision("resnet50")
    rf, report = rf_of(resnet, (1, 3, 224, 224), "layer4.2.relu@2")
    assert rf == {"size": [427, 427], "stride": [32, 32], "start": [-213, -213]}
    assert report.receptive_field["layer"] == "layer4.2.relu@2" and report.receptive_field["coverage"] == [1.0, 1.0]
    slim = _vision("resnet50")
    for stage, blocks in (("layer2", 4), ("layer3", 6), ("layer4", 3)):  # stride moves to the previous stage's end
        first = getattr(slim, stage)[0]
        first.conv2.stride = (1, 1)
        first.downsample[0].stride = (1, 1)
    for stage in ("layer1", "layer2", "layer3"):
        last = getattr(slim, stage)[-1]
        last.conv2.stride = (2, 2)
        last.downsample = nn.Sequential(nn.MaxPool2d(1, 2))  # slim: subsampled shortcut
        last.forward = _bottleneck_forward.__get__(last)
    rf, _ = rf_of(slim, (1, 3, 224, 224), "layer4.2.relu@2")
    assert rf["size"] == [483, 483] and rf["stride"] == [32, 32]
    inception = _vision("inception_v3", aux_logits=True, init_weights=False)
    mixed_7c = [layer for layer in audit(inception, input_shape=(1, 3, 299, 299), rules=False).layers
                if layer.scope == "Mixed_7c" and layer.type == "cat"][-1]
    assert mixed_7c.attrs["receptive_field"]["size"] == [1311, 1311]  # Araujo et al.: inception_v3 Mixed_7c


def _bottleneck_forward(self, x):
    identity = self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu(out + identity)


# ---------------------------------------------------------------------------------------------- fractional strides


def _supports_1d(model: nn.Module, n: int) -> list[list[int]]:
    """Support of every output unit of a linear, bias-free 1-channel model: feed the basis e_0..e_n-1."""
    with torch.no_grad():
        out = model(torch.eye(n, dtype=torch.float64).reshape(n, 1, n))  # out[i, 0, o] = d out_o / d x_i
    return [torch.nonzero(out[:, 0, o] != 0).flatten().tolist() for o in range(out.shape[-1])]


def _window(rf: dict, unit: int) -> list[int]:
    """Integer positions in the closed interval [start + u·stride, start + u·stride + size - 1]."""
    lo = Fraction(rf["start"][0]) + unit * Fraction(rf["stride"][0])
    hi = lo + Fraction(rf["size"][0]) - 1
    return list(range(math.ceil(lo), math.floor(hi) + 1))


from fractions import Fraction  # noqa: E402


@settings(max_examples=50, deadline=None)
@given(k=st.integers(1, 5), s=st.integers(1, 4), d=st.integers(1, 3), p=st.integers(0, 4), stack=st.booleans())
def test_transposed_conv_windows_are_exact(k, s, d, p, stack):
    """Transposed conv = s-fold zero insertion + stride-1 conv: the closed interval bounds the support
    (exactly when d = 1; its extent exactly when s = 1; with s, d > 1 some units get fewer taps)."""
    assume(p <= d * (k - 1))
    layers = [nn.ConvTranspose1d(1, 1, k, stride=s, padding=p, dilation=d)]
    if stack:  # after a strided conv: field counted in the original input's pixels
        layers.insert(0, nn.Conv1d(1, 1, 3, stride=2, padding=1))
    model = nn.Sequential(*layers)
    n = 40
    rf, _ = rf_of(model, (1, 1, n))
    oracle = copy.deepcopy(model).double()
    with torch.no_grad():
        for name, param in oracle.named_parameters():
            param.fill_(0.0 if name.endswith("bias") else 1.0)
    supports = _supports_1d(oracle, n)
    checked = 0
    for unit, support in enumerate(supports):
        window = _window(rf, unit)
        if window and window[0] > 0 and window[-1] < n - 1:
            assert set(support) <= set(window), (unit, support, window)
            if not stack and d == 1:  # every position in the interval is a tap
                assert support == window, (unit, rf)
            elif not stack and s == 1:  # dilation leaves holes; the extent is exact
                assert (support[0], support[-1]) == (window[0], window[-1])
            checked += 1
    assert checked


@pytest.mark.parametrize("mode, factor, exact", [("nearest", 2, True), ("nearest", 3, True),
                                                  ("nearest-exact", 3, True), ("linear", 2, False),
                                                  ("linear", 3, False)])
def test_upsampling_windows(mode, factor, exact):
    model = nn.Upsample(scale_factor=factor, mode=mode)
    n = 24
    rf, _ = rf_of(model, (1, 1, n))
    assert Fraction(rf["stride"][0]) == Fraction(1, factor)
    supports = _supports_1d(model, n)
    for unit in range(2 * factor, (n - 2) * factor):
        support = supports[unit]
        window = _window(rf, unit)
        assert set(support) <= set(window), (unit, support, window)
        if exact:
            assert support == window
    assert rf["size"][0] == {"nearest": {2: "3/2", 3: "5/3"}, "nearest-exact": {3: "11/6"},
                             "linear": {2: "11/4", 3: "8/3"}}[mode][factor]


# ---------------------------------------------------------------------------------------------- functional forms, hooks


class FunctionalNet(nn.Module):
    """conv → max-pool(ceil) → dilated residual → cat with avg-pool, all as functional calls."""

    def __init__(self, oracle: bool = False) -> None:
        super().__init__()
        self.oracle = oracle
        self.act = nn.ReLU()  # a child module, so the hooks tracer sees the functional ops as layers
        gen = torch.Generator().manual_seed(0)
        self.w1 = nn.Parameter(torch.rand(4, 3, 3, 5, generator=gen) + 0.5)
        self.w2 = nn.Parameter(torch.rand(4, 4, 3, 3, generator=gen) + 0.5)

    def forward(self, x):
        y = F.conv2d(x, self.w1, stride=2, padding=(1, 2))
        if not self.oracle:
            y = self.act(y)
        y = (F.avg_pool2d if self.oracle else F.max_pool2d)(y, 3, 2, 1, ceil_mode=True)
        y = y + F.conv2d(y, self.w2, padding=2, dilation=2)
        return torch.cat([y, F.avg_pool2d(y, 3, 1, 1)], dim=1)


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_functional_forms_match_gradient_support(tracer):
    shape = (1, 3, 61, 67)
    report = audit(FunctionalNet(), input_shape=shape, tracer=tracer, rules=False)
    assert report.tracer == tracer
    strict_graph(FunctionalNet(), input_shape=shape, tracer=tracer, rules=False)
    rf = report.layer(report.outputs[0]).attrs["receptive_field"]
    assert rf == measured_field(FunctionalNet(oracle=True).double(), shape)
    # by hand: conv 3×5/2 p(1,2) → 3×5 /2 at (-1,-2); max-pool 3/2 p1 → 7×9 /4 at (-3,-4); dilated 3×3 d2 p2
    # → 23×25 at (-11,-12), union with the identity branch (inside it); avg-pool 3/1 p1 → 31×33 at (-15,-16)
    assert rf == {"size": [31, 33], "stride": [4, 4], "start": [-15, -16]}
    assert report.receptive_field["layer"] == report.outputs[0]


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        y = self.conv(x)
        up = F.interpolate(y, scale_factor=2, mode="nearest")
        gate = torch.sigmoid(F.adaptive_avg_pool2d(up, 1))  # squeeze-excitation style channel gate
        gated = up * gate
        pooled = F.max_pool2d(gated, 2)
        return self.fc(torch.flatten(pooled, 1)), pooled.mean((2, 3))


@pytest.mark.parametrize("tracer", ["fx", "hooks"])
def test_upsample_gate_flatten_linear_global(tracer):
    report = audit(Head(), input_shape=(1, 3, 16, 16), tracer=tracer, rules=False)
    strict_graph(Head(), input_shape=(1, 3, 16, 16), tracer=tracer, rules=False)
    fields = {layer.name: layer.attrs["receptive_field"] for layer in report.layers}
    assert fields["conv"] == {"size": [3, 3], "stride": [2, 2], "start": [-1, -1]}
    up = [layer for layer in report.layers if layer.kind == "upsample"][0]
    # nearest ×2 reads conv unit floor(o/2): envelope [o - 2, o + 1] = size 3 + (1/2)·2, stride 2·(1/2)
    assert up.attrs["receptive_field"] == {"size": [4, 4], "stride": [1, 1], "start": [-2, -2]}
    gate_mul = [layer for layer in report.layers if layer.attrs.get("receptive_field_global_context")]
    assert len(gate_mul) == 1 and gate_mul[0].attrs["receptive_field"] == up.attrs["receptive_field"]
    assert fields["fc"] == "global"
    means = [layer.attrs["receptive_field"] for layer in report.layers if layer.type == "mean"]
    assert means and set(means) == {"global"}  # hooks: the 1×1 adaptive pool lowers to mean too
    pool = [layer for layer in report.layers if "max_pool" in layer.type][0]
    assert pool.attrs["receptive_field"] == {"size": [5, 5], "stride": [2, 2], "start": [-2, -2]}


class TwoBranch(nn.Module):
    """3-tap branch centred on u, plus a 4-tap 'same' branch: PyTorch pads 1 left, 2 right → centre u + 1/2."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 1, 3, padding=1)
        self.b = nn.Conv1d(1, 1, 4, padding="same")

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_misaligned_branches_are_measured_and_recorded():
    report = audit(TwoBranch(), input_shape=(1, 1, 40), rules=False)
    strict_graph(TwoBranch(), input_shape=(1, 1, 40), rules=False)
    add = report.layer(report.outputs[0])
    oracle = copy.deepcopy(TwoBranch()).double()
    with torch.no_grad():
        for param in oracle.parameters():
            param.copy_(param.abs() + 0.5)
    assert add.attrs["receptive_field"] == measured_field(oracle, (1, 1, 40)) == {
        "size": [4], "stride": [1], "start": [-1]}  # union of [u-1, u+1] and [u-1, u+2]
    assert add.attrs["receptive_field_misaligned"] == {"axes": ["x[2]"], "centre_offset": ["1/2"]}


def test_unseen_slicing_gives_none_not_a_number():
    class Sliced(TwoBranch):
        def forward(self, x):
            return self.a(x)[..., 1:] + self.b(x)[..., :-1]

    report = audit(Sliced(), input_shape=(1, 1, 40), rules=False)
    strict_graph(Sliced(), input_shape=(1, 1, 40), rules=False)
    # fx records no slice bounds: the analysis cannot know the shift, so it says None
    assert report.layer(report.outputs[0]).attrs["receptive_field"] is None


# ---------------------------------------------------------------------------------------------- zoo, transformers

from test_torchvision_zoo import MODELS, _build  # noqa: E402  (the zoo list, reused as is)

CLASSIC_CNNS = ("alexnet", "vgg", "resnet", "resnext", "wide_resnet", "densenet", "mobilenet_v2", "mnasnet",
                "shufflenet", "squeezenet", "googlenet", "inception")


@pytest.mark.parametrize("name", MODELS, ids=MODELS)  # all 80: ≈30 s on 2 idle cores (meta device)
def test_torchvision_zoo_runs(name):
    _zoo_case(name)


def _zoo_case(name: str) -> None:
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size
    size = crop[0] if isinstance(crop, (list, tuple)) else crop
    model = _build(name, weights)
    report = audit(model, input_shape=(1, 3, size, size), rules=False)
    strict_graph(model, input_shape=(1, 3, size, size), rules=False)  # unexpected errors raise here
    fields = [layer.attrs["receptive_field"] for layer in report.layers]
    json.dumps(fields)
    first_conv = next(layer for layer in report.layers if layer.kind == "conv")
    k = list(first_conv.module.kernel_size)
    assert first_conv.attrs["receptive_field"]["size"] == k
    assert first_conv.attrs["receptive_field"]["stride"] == list(first_conv.module.stride)
    for output in report.outputs:  # the logits see the whole image, or the analysis says it cannot tell
        assert report.layer(output).attrs["receptive_field"] in ("global", None)
    if name.startswith(CLASSIC_CNNS):
        assert report.layer(report.outputs[0]).attrs["receptive_field"] == "global"
        assert report.receptive_field is not None and report.receptive_field["global"]


@pytest.mark.parametrize("kind", ["gpt2", "bert"])
def test_transformers_have_no_spatial_field(kind):
    pytest.importorskip("transformers")
    from test_transformers import build, example

    for tracer in ("auto", "hooks"):
        report = audit(build(kind), example(kind), tracer=tracer, rules=False)
        strict_graph(build(kind), example(kind), tracer=tracer, rules=False)
        assert {str(layer.attrs["receptive_field"]) for layer in report.layers} <= {"None", "global"}
        assert report.receptive_field is None and "receptive_field" not in report.summary()


# ---------------------------------------------------------------------------------------------- rule, surfaces


def three_convs() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )


def test_coverage_rule_fires_below_the_input_size():
    report = audit(three_convs(), input_shape=(1, 3, 64, 64), select=["receptive-field-coverage"])
    (finding,) = report.findings
    assert finding.rule == "receptive-field-coverage" and finding.severity.name == "INFO"
    assert finding.layer == "5"  # the last ReLU: the last layer with a spatial field
    assert finding.data["size"] == [7, 7] and finding.data["input"] == [64, 64]
    # central unit 31: window [31 - 3, 31 + 3] = 7 of 64 pixels
    assert finding.data["coverage"] == [round(7 / 64, 4)] * 2
    assert "7×7" in finding.message and "64×64" in finding.message
    summary = report.summary()["receptive_field"]
    assert summary == {"layer": "5", "size": [7, 7], "stride": [1, 1], "start": [-1 - 1 - 1] * 2, "global_at": "6",
                       "input": [64, 64], "coverage": [0.1094, 0.1094], "global": True}


def test_coverage_rule_quiet_when_covered_and_threshold_option():
    covered = audit(three_convs(), input_shape=(1, 3, 7, 7), select=["receptive-field-coverage"])
    assert covered.findings == []  # central unit 3: [0, 6] covers all 7 pixels
    lenient = audit(three_convs(), input_shape=(1, 3, 64, 64), select=["receptive-field-coverage"],
                    options={"receptive-field-coverage": {"min-coverage": 0.1}})
    assert lenient.findings == []


def test_table_json_and_rollup_show_the_field():
    from model_audit.render.json_report import render_json
    from model_audit.render.table import render_table

    model = _vision("resnet18")
    report = audit(model, input_shape=(1, 3, 224, 224), rules=False)
    table = render_table(report)
    header = table.splitlines()[0]
    assert "RF" in header
    conv1 = next(line for line in table.splitlines() if line.startswith("conv1 "))
    assert conv1.rstrip().endswith("7×7 /2")
    assert next(line for line in table.splitlines() if line.startswith("fc ")).rstrip().endswith("global")
    assert "receptive field: 435×435 at layer4.1.relu@1 covers 224×224 input (100%)" in table
    rolled = render_table(report, depth=1)
    layer3 = next(line for line in rolled.splitlines() if line.startswith("layer3 "))
    assert layer3.rstrip().endswith("211×211 /16")  # the row's last layer, layer3.1.relu@1
    data = json.loads(render_json(report))
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["maxpool"]["receptive_field"] == {"size": [11, 11], "stride": [4, 4], "start": [-5, -5]}
    assert rows["fc"]["receptive_field"] == "global"
    assert data["summary"]["receptive_field"]["size"] == [435, 435]


# ---------------------------------------------------------------------------------------------- ERF


def test_erf_of_an_averaging_stack_matches_the_closed_form():
    """Three 3×3 box filters: the gradient is the outer product of [1,2,3,2,1]*[1,1,1] = [1,3,6,7,6,3,1]."""
    import numpy as np

    from model_audit import effective_receptive_field

    model = nn.Sequential(*[nn.AvgPool2d(3, 1, 1) for _ in range(3)])
    result = effective_receptive_field(model, (1, 1, 33, 33))
    line = np.convolve(np.convolve([1, 1, 1], [1, 1, 1]), [1, 1, 1])  # support 7, centred
    mass = np.outer(line, line)
    radius = np.maximum(*np.meshgrid(np.abs(np.arange(7) - 3), np.abs(np.arange(7) - 3)))
    share = [mass[radius <= r].sum() / mass.sum() for r in range(4)]
    expected_50 = next(r for r in range(4) if share[r] >= 0.5)
    expected_95 = next(r for r in range(4) if share[r] >= 0.95)
    assert (result["radius_50"], result["radius_95"]) == (expected_50, expected_95) == (2, 3)  # (19/27)² = 49.5% at radius 1
    assert result["theoretical"] == {"size": [7, 7], "stride": [1, 1], "start": [-3, -3]}
    assert result["unit"] == [16, 16] and result["centre"] == [16.0, 16.0]


def test_erf_on_a_real_model_is_smaller_and_leaves_it_untouched():
    from model_audit import effective_receptive_field

    torch.manual_seed(0)
    model = three_convs().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = effective_receptive_field(model, torch.randn(1, 3, 32, 32))
    assert result["layer"] == "5" and result["theoretical"]["size"] == [7, 7]
    assert 0 < result["radius_50"] <= result["radius_95"] <= 3  # inside the 7×7 theoretical field
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(Exception, match="no layer named"):
        effective_receptive_field(model, (1, 3, 32, 32), layer="nope")


def test_cli_erf_line_and_json(tmp_path, capsys):
    from model_audit.cli.main import main

    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\n"
                    "model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2))\n"
                    "input_shape = (1, 3, 32, 32)\n")
    assert main([str(path), "--erf"]) == 0
    out = capsys.readouterr().out
    assert "effective receptive field (Luo et al. 2016) at 2:" in out and "theoretical field 5×5" in out
    assert main([str(path), "--erf", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["effective_receptive_field"]["layer"] == "2"
    assert data["effective_receptive_field"]["radius_95"] <= 2.5


@pytest.mark.parametrize("n, out", [(12, 4), (10, 3), (17, 5)])
def test_adaptive_pooling_window_bounds_every_unit(n, out):
    model = nn.AdaptiveAvgPool1d(out)
    rf, _ = rf_of(model, (1, 1, n))
    assert Fraction(rf["stride"][0]) == Fraction(n, out)
    supports = _supports_1d(model, n)
    for unit, support in enumerate(supports):
        assert set(support) <= set(_window(rf, unit))
    if n % out == 0:
        assert rf == {"size": [n // out], "stride": [n // out], "start": [0]}
    assert rf_of(nn.AdaptiveMaxPool2d(1), (1, 1, n, n))[0] == "global"


def test_lp_pool_and_asymmetric_grouped_conv():
    model = nn.Sequential(nn.Conv2d(4, 4, (1, 5), stride=(1, 2), padding=(0, 2), groups=4), nn.LPPool2d(2, 3, 2))
    rf, _ = rf_of(model, (1, 4, 40, 40))
    # conv 1×5 /(1,2) at (0,-2); LP-pool 3/2 (no padding): 3×(5+2·2) /(2,4)
    assert rf == {"size": [3, 9], "stride": [2, 4], "start": [0, -2]}


def test_coverage_rule_skips_attention_and_untracked_outputs():
    vit = audit(_vision("vit_b_32"), input_shape=(1, 3, 224, 224), select=["receptive-field-coverage"])
    assert vit.receptive_field["size"] == [32, 32] and vit.receptive_field["global_at"].endswith("self_attention")
    assert vit.findings == []
    swin = audit(_vision("swin_t"), input_shape=(1, 3, 224, 224), select=["receptive-field-coverage"])
    assert swin.receptive_field is None and swin.findings == []  # windowed attention: not followed
    vgg = audit(_vision("vgg11"), input_shape=(1, 3, 224, 224), select=["receptive-field-coverage"])
    (finding,) = vgg.findings
    assert finding.layer == "avgpool" and finding.data["size"] == [150, 150]


def test_convnext_permutes_keep_the_field():
    """ConvNeXt runs its MLP channels-last (permute → LayerNorm → Linear → permute back).

    By hand: stem 4/4 → 4 (j 4); stage 1: 3 blocks × 7×7 dw: + 3·6·4 = 76; down 2/2: 80 (j 8);
    stage 2: + 3·6·8 = 224; down: 232 (j 16); stage 3: + 9·6·16 = 1096; down: 1112 (j 32);
    stage 4: + 3·6·32 = 1688.
    """
    report = audit(_vision("convnext_tiny"), input_shape=(1, 3, 224, 224), rules=False)
    assert report.receptive_field["size"] == [1688, 1688] and report.receptive_field["stride"] == [32, 32]
    linear = report.layer("features.1.0.block.3")  # nn.Linear over channels, channels-last
    assert linear.attrs["receptive_field"] == {"size": [28, 28], "stride": [4, 4], "start": [-12, -12]}


def test_axes_created_by_a_reshape_count_in_that_tensors_pixels():
    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(10, 64)
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, z):
            return self.conv(self.fc(z).view(-1, 1, 8, 8))

    report = audit(Decoder(), input_shape=(2, 10), rules=False)
    strict_graph(Decoder(), input_shape=(2, 10), rules=False)
    assert report.layer("fc").attrs["receptive_field"] is None  # a vector: no spatial axes
    assert report.layer("conv").attrs["receptive_field"] == {"size": [3, 3], "stride": [1, 1], "start": [-1, -1]}
    assert report.receptive_field["input"] == [8, 8] and report.receptive_field["coverage"] == [0.375, 0.375]


def test_a_layer_the_analysis_cannot_follow_is_reported_not_silent(monkeypatch):
    import model_audit.analyses.receptive_field as rf

    real = rf.transfer

    def failing(layer, states, shapes=None):
        if layer.name == "1":
            raise ValueError("unexpected geometry")
        return real(layer, states, shapes)

    monkeypatch.setattr(rf, "transfer", failing)
    report = audit(nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3)), input_shape=(1, 3, 16, 16),
                   rules=False)
    assert report.layer("0").attrs["receptive_field"]["size"] == [3, 3]
    assert report.layer("2").attrs["receptive_field"] is None
    assert any("could not follow layer 1" in note and "unexpected geometry" in note for note in report.notes)
