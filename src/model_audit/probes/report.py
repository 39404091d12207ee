"""ProbeReport: the plain data a probe produces (serialized as the report's ``probe`` section)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any



@dataclass
class LayerProbe:
    """Measurements for one IR layer (``name`` is the IR layer name, so renderers can join)."""

    name: str
    kind: str
    grad_norm: float | None = None
    weight_norm: float | None = None
    dead_fraction: float | None = None
    units: int | None = None
    saturation: float | None = None
    act_mean: float | None = None
    act_std: float | None = None
    nonfinite: bool = False
    times: dict[str, float | None] | None = None
    bn_variance_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """Gradient norm / weight norm (the relative step size SGD with lr=1 would take)."""
        if self.grad_norm is None or not self.weight_norm:
            return None
        return self.grad_norm / self.weight_norm

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name, "kind": self.kind, "grad_norm": _num(self.grad_norm),
            "weight_norm": _num(self.weight_norm), "ratio": _num(self.ratio),
            "dead_fraction": _num(self.dead_fraction), "saturation": _num(self.saturation),
            "act_mean": _num(self.act_mean), "act_std": _num(self.act_std), "nonfinite": self.nonfinite,
            "times": {k: _num(v) for k, v in self.times.items()} if self.times else None,
        }
        if self.bn_variance_ratio is not None:
            data["bn_variance_ratio"] = _num(self.bn_variance_ratio)
        return data


def _num(value: float | None) -> float | str | None:
    """JSON has no NaN/Infinity: non-finite figures serialize as the strings "nan", "inf", "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


@dataclass
class ProbeReport:
    device: str
    mode: str
    loss: str
    seed: int
    batches: int
    batch_size: int | None
    autocast: str | None
    total_grad_norm: float | None
    total_grad_norms: list[float] = field(default_factory=list)  # one per batch
    layers: list[LayerProbe] = field(default_factory=list)
    first_nonfinite: str | None = None
    first_layer: str | None = None  # first / last layers with a weight gradient (vanishing/exploding ratio)
    last_layer: str | None = None
    sequence: dict[str, Any] | None = None  # recurrent models: gradient norm by sequence length
    notes: list[str] = field(default_factory=list)

    def layer(self, name: str) -> LayerProbe:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def first_last_ratio(self) -> float | None:
        if not self.first_layer or not self.last_layer:
            return None
        first, last = self.layer(self.first_layer).grad_norm, self.layer(self.last_layer).grad_norm
        if first is None or last is None:
            return None
        return first / last if last else (math.inf if first else math.nan)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device, "mode": self.mode, "loss": self.loss, "seed": self.seed,
            "batches": self.batches, "batch_size": self.batch_size, "autocast": self.autocast,
            "total_grad_norm": _num(self.total_grad_norm),
            "total_grad_norms": [_num(v) for v in self.total_grad_norms],
            "first_layer": self.first_layer, "last_layer": self.last_layer,
            "first_last_ratio": _num(self.first_last_ratio),
            "first_nonfinite": self.first_nonfinite,
            "layers": [layer.to_dict() for layer in self.layers],
            "sequence": self.sequence,
            "notes": list(self.notes),
        }
