"""The audit leaves the model, the caller's tensors and the process exactly as they were.

A deep snapshot (every module's ``__dict__``, one level of containers, tensors by identity *and*
value, the class of each module, the global RNG states) is taken before and compared after
``audit()`` on meta and cpu, with and without probes; afterwards the model must still run and give
the output it gave before.
"""
from __future__ import annotations

import copy
import random
import warnings

import pytest
import torch
import torch.nn as nn

from model_audit import audit


# ---------------------------------------------------------------- models that write state in forward
class ForwardBuffer(nn.Module):
    """Registers a buffer inside forward (fx: a Proxy; meta: a meta tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        self.register_buffer("last_mean", x.mean(0))
        return self.fc(x)


class Rotary(nn.Module):
    """A rotary-style cache in plain attributes, refilled when the length changes."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.cached_len = 0
        self.cos_cached = None

    def forward(self, x):
        n = x.shape[0]
        if n != self.cached_len:
            self.cached_len = n
            self.cos_cached = torch.arange(n, dtype=x.dtype, device=x.device).unsqueeze(1).cos()
        return self.fc(x) * self.cos_cached


class InputCache(nn.Module):
    """A submodule keeps its input; the root counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _Keeper()
        self.fc = nn.Linear(8, 4)
        self.calls = 0
        self.history: list = []

    def forward(self, x):
        self.calls += 1
        self.history.append(1)
        return self.fc(self.inner(x))


class _Keeper(nn.Module):
    def forward(self, x):
        self.seen = x
        return x * 2


class InPlaceFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x.mul_(2)
        return self.fc(torch.relu_(x))


class TensorAttribute(nn.Module):
    """A tensor kept as a plain attribute and updated in place (anchors, running counters)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = torch.ones(8)
        self.anchors = [torch.zeros(2, 4), torch.ones(3, 4)]

    def forward(self, x):
        self.scale.add_(1)
        self.anchors = [a.to(x.device) for a in self.anchors]
        return self.fc(x) * self.scale


def _old_weight_norm() -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nn.Sequential(torch.nn.utils.weight_norm(nn.Linear(8, 8)), nn.ReLU(), nn.Linear(8, 4))


def _old_spectral_norm() -> nn.Module:
    return nn.Sequential(torch.nn.utils.spectral_norm(nn.Linear(8, 8)), nn.Tanh(), nn.Linear(8, 4))


def _new_weight_norm() -> nn.Module:
    return nn.Sequential(torch.nn.utils.parametrizations.weight_norm(nn.Linear(8, 8)), nn.ReLU())


class RNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.gru = nn.GRU(16, 8, batch_first=True)

    def forward(self, x):
        return self.gru(self.lstm(x.unsqueeze(0))[0])[0].squeeze(0)


def _dropout() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.5), nn.BatchNorm1d(16), nn.Linear(16, 4))


MODELS = {
    "forward-buffer": ForwardBuffer,
    "rotary-cache": Rotary,
    "input-cache": InputCache,
    "inplace-first": InPlaceFirst,
    "tensor-attribute": TensorAttribute,
    "old-weight-norm": _old_weight_norm,
    "old-spectral-norm": _old_spectral_norm,
    "new-weight-norm": _new_weight_norm,
    "rnn": RNN,
    "dropout-train": _dropout,
}


# ---------------------------------------------------------------- the deep snapshot
def _value(obj):
    if isinstance(obj, torch.Tensor):
        if torch.nn.parameter.is_lazy(obj):
            return ("lazy", id(obj), type(obj).__name__)
        if obj.device.type == "meta" or obj.is_meta:
            return ("meta-tensor", id(obj), tuple(obj.shape))
        return ("tensor", id(obj), type(obj).__name__, obj.device.type, obj.dtype, tuple(obj.shape),
                obj.detach().clone(), obj.requires_grad, obj.grad)
    if isinstance(obj, dict):
        return ("dict", id(obj), [(k, _value(v)) for k, v in obj.items()])
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, id(obj), [_value(v) for v in obj])
    if isinstance(obj, set):
        return ("set", id(obj), sorted(map(repr, obj)))
    if isinstance(obj, (int, float, str, bool, type(None))):
        return ("plain", obj)
    return ("object", id(obj), type(obj).__name__)


def snapshot(model: nn.Module, x: torch.Tensor) -> dict:
    state = {"input": _value(x), "rng": torch.get_rng_state().clone(), "py-rng": random.getstate(),
             "dtype": torch.get_default_dtype(), "modules": []}
    for module in model.modules():
        state["modules"].append((id(module), type(module), [(k, _value(v)) for k, v in module.__dict__.items()]))
    return state


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and bool(torch.equal(a, b)))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def assert_same(before: dict, after: dict) -> None:
    assert _same(before["input"], after["input"]), "the caller's input tensor changed"
    assert torch.equal(before["rng"], after["rng"]), "the global torch RNG advanced"
    assert before["py-rng"] == after["py-rng"], "Python's random state changed"
    assert before["dtype"] == after["dtype"]
    assert len(before["modules"]) == len(after["modules"]), "modules were added or removed"
    for (mid, cls, attrs), (mid2, cls2, attrs2) in zip(before["modules"], after["modules"]):
        assert (mid, cls) == (mid2, cls2), f"module {cls.__name__} replaced or changed class"
        keys, keys2 = [k for k, _ in attrs], [k for k, _ in attrs2]
        assert keys == keys2, f"{cls.__name__}: attributes changed: {set(keys) ^ set(keys2)}"
        for (key, value), (_, value2) in zip(attrs, attrs2):
            assert _same(value, value2), f"{cls.__name__}.{key} changed"


def _input() -> torch.Tensor:
    return torch.randn(4, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_audit_leaves_model_inputs_and_rng_untouched(name: str, device: str, mode: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    model.train(mode == "train")
    x = _input()
    model.eval()
    with torch.no_grad():
        model(x.clone())  # first real run: caches filled
    model.train(mode == "train")
    twin = copy.deepcopy(model)
    before = snapshot(model, x)
    audit(model, x, device=device, mode=mode)
    assert_same(before, snapshot(model, x))
    model.eval(), twin.eval()
    with torch.no_grad():
        assert torch.equal(model(x.clone()), twin(x.clone())), "the model no longer runs as before"


@pytest.mark.parametrize("name", ["forward-buffer", "rotary-cache", "tensor-attribute", "old-weight-norm",
                                  "rnn", "dropout-train", "inplace-first"])
def test_probe_leaves_model_untouched(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    x = _input()
    with torch.no_grad():
        model.eval()
        model(x.clone())
    model.train()
    before = snapshot(model, x)
    audit(model, x, probe=True, probe_options={"batches": 2})
    assert_same(before, snapshot(model, x))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_lazy_module_is_not_materialized(device: str) -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU())
    x = _input()
    before = snapshot(model, x)
    try:
        audit(model, x, device=device)
    except Exception as error:  # supported or refused in one line; never half-materialized
        assert type(error).__module__.startswith("model_audit"), repr(error)
    assert type(model[0]) is nn.LazyLinear
    assert torch.nn.parameter.is_lazy(model[0].weight)
    assert_same(before, snapshot(model, x))


def test_train_mode_cpu_audit_does_not_advance_rng() -> None:
    """Without the RNG restore dropout on cpu draws from the global generator."""
    model = _dropout().train()
    torch.manual_seed(123)
    audit(model, _input(), device="cpu", mode="train")
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))


def test_meta_cache_key_holds_default_dtype() -> None:
    """A result cached under float32 must not answer an audit under float64 (``torch.arange(n)*1.5``)."""

    class Scale(nn.Module):
        def forward(self, x):
            return x * torch.arange(x.shape[-1], device=x.device) * 0.5

    x = torch.empty(2, 8, dtype=torch.int64)
    dtypes = []
    for default in (torch.float32, torch.float64):
        previous = torch.get_default_dtype()
        torch.set_default_dtype(default)
        try:
            dtypes.append(audit(Scale(), x).layers[-1].output_dtype)
        finally:
            torch.set_default_dtype(previous)
    assert dtypes == ["float32", "float64"] or dtypes == [torch.float32, torch.float64], dtypes
