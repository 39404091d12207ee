"""Effective receptive field probe (Luo, Li, Urtasun & Zemel, NeurIPS 2016).

The theoretical field says which input pixels *can* influence a unit; the effective field says
which ones *do*: backpropagate from the central output unit of a layer (gradient 1 on every
channel at that position, 0 elsewhere) through the real model and look at where the
|input gradient| mass sits. It is roughly Gaussian and much smaller than the theoretical field.

Radii are Chebyshev distances (a square/cube box half-width) in input pixels from the centre of
the unit's theoretical window (the centre of the input when the layer has no exact field): the
smallest ``ρ`` such that the box ``|p_i − c_i| ≤ ρ`` on every axis holds 50% (95%) of the mass.
``axis_radius_50/95`` are the same on each axis' marginal (mass summed over the other axes).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import torch
import torch.nn as nn

from ..errors import AuditError
from ..target.inputs import as_specs, normalize_inputs
from ..trace.placement import preserved_state


def _example(model_input: Any, device: torch.device, seed: int) -> tuple[tuple, dict]:
    if isinstance(model_input, (torch.Tensor, dict)) or (
            isinstance(model_input, (list, tuple)) and model_input and isinstance(model_input[0], torch.Tensor)):
        args, kwargs = normalize_inputs(model_input)
        return tuple(_to(a, device) for a in args), {k: _to(v, device) for k, v in kwargs.items()}
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in as_specs(model_input):
        if spec.dtype.is_floating_point:
            tensors.append(torch.randn(spec.shape, dtype=spec.dtype, generator=generator).to(device))
        else:
            tensors.append(torch.zeros(spec.shape, dtype=spec.dtype, device=device))
    return tuple(tensors), {}


def _to(value: Any, device: torch.device) -> Any:
    return value.detach().to(device) if isinstance(value, torch.Tensor) else value


def _pick_layer(report: Any, layer: str | None):
    layers = [l for l in report.layers if l.module is not None and isinstance(l.attrs.get("receptive_field"), dict)]
    if layer is not None:
        for candidate in report.layers:
            if candidate.name == layer:
                if candidate.module is None:
                    raise AuditError(f"layer {layer!r} is a functional op; the ERF probe hooks modules — "
                                     "name a module layer")
                return candidate
        raise AuditError(f"no layer named {layer!r} in the model")
    if not layers:
        raise AuditError("the model has no module layer with a spatial receptive field to probe")
    return layers[-1]


def _radius(distance: torch.Tensor, mass: torch.Tensor, fraction: float) -> float:
    """Smallest distance d such that the mass at distance <= d reaches ``fraction`` of the total."""
    order = torch.argsort(distance.flatten())
    d = distance.flatten()[order]
    cumulative = torch.cumsum(mass.flatten()[order], 0)
    total = cumulative[-1]
    index = int(torch.searchsorted(cumulative, fraction * total).clamp(max=len(d) - 1))
    return float(d[index])


def effective_receptive_field(model: nn.Module, input_shape_or_inputs: Any, *, layer: str | None = None,
                              seed: int = 0, device: str = "cpu", report: Any = None) -> dict:
    """Measure the effective receptive field of ``layer`` (default: the last module layer with a
    spatial field) at its central unit, with the model's real weights.

    ``input_shape_or_inputs``: a shape like ``(1, 3, 224, 224)`` (a seeded normal input is drawn)
    or real inputs. The gradient flows into the first floating-point input tensor. The model is
    run in eval mode on ``device`` and restored (mode; parameters' ``.grad`` are never written:
    the gradient is taken with ``torch.autograd.grad`` for the input only).
    """
    params = list(model.parameters()) + list(model.buffers())
    if any(t.device.type == "meta" for t in params):
        raise AuditError("the effective receptive field needs real weights; the model is on the meta device")
    target = torch.device(device)
    if params and any(t.device != target for t in params):
        target = params[0].device  # copy-free: run where the weights already are
    args, kwargs = _example(input_shape_or_inputs, target, seed)
    if report is None:
        from ..analyses import run_analyses
        from ..trace.engine import trace_model

        report = trace_model(model, args if not kwargs else kwargs, device="meta")  # layers with their fields
        run_analyses(report)
    chosen = _pick_layer(report, layer)
    rf = chosen.attrs.get("receptive_field")
    floats = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.is_floating_point()]
    if not floats:
        raise AuditError("the effective receptive field needs a floating-point input to differentiate")
    slot = floats[0]
    x = args[slot].clone().requires_grad_(True)
    args = args[:slot] + (x,) + args[slot + 1:]
    captured: list[torch.Tensor] = []
    calls = {"n": 0}
    wanted = int(chosen.name.split("@")[1]) if "@" in chosen.name else 0

    def hook(module, inputs, output):
        if calls["n"] == wanted:
            captured.append(output[0] if isinstance(output, (tuple, list)) else output)
        calls["n"] += 1

    handle = chosen.module.register_forward_hook(hook)
    try:
        with preserved_state(model, False), torch.enable_grad():
            model(*args, **kwargs)
            if not captured:
                raise AuditError(f"layer {chosen.name!r} did not run on this input")
            out = captured[0]
            spatial = tuple(out.shape[2:])
            if not spatial:
                raise AuditError(f"layer {chosen.name!r} has no spatial axes to probe")
            unit = tuple((n - 1) // 2 for n in spatial)
            (grad,) = torch.autograd.grad(out[(0, slice(None), *unit)].sum(), x, allow_unused=True)
    finally:
        handle.remove()
    if grad is None:
        raise AuditError(f"the input does not reach layer {chosen.name!r}")
    mass = grad[0].detach().abs().double()
    mass = mass.sum(0) if mass.dim() > len(spatial) else mass
    extent = tuple(mass.shape)
    if isinstance(rf, dict) and len(rf["size"]) == len(extent):
        centre = [float(Fraction(a) + u * Fraction(s) + (Fraction(r) - 1) / 2)
                  for a, s, r, u in zip(rf["start"], rf["stride"], rf["size"], unit)]
    else:
        centre = [(n - 1) / 2 for n in extent]
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) - c for n, c in zip(extent, centre)], indexing="ij")
    chebyshev = torch.stack([g.abs() for g in grids]).amax(0)
    euclid = torch.sqrt(sum(g ** 2 for g in grids))
    total = float(mass.sum())
    if total == 0.0:
        raise AuditError(f"the gradient of {chosen.name!r} with respect to the input is zero everywhere")
    axis_50, axis_95 = [], []
    for axis in range(len(extent)):
        others = tuple(d for d in range(len(extent)) if d != axis)
        marginal = mass.sum(others) if others else mass
        distance = (torch.arange(extent[axis], dtype=torch.float64) - centre[axis]).abs()
        axis_50.append(_radius(distance, marginal, 0.5))
        axis_95.append(_radius(distance, marginal, 0.95))
    return {
        "layer": chosen.name,
        "unit": list(unit),
        "centre": [round(c, 3) for c in centre],
        "input": list(extent),
        "radius_50": _radius(chebyshev, mass, 0.5),
        "radius_95": _radius(chebyshev, mass, 0.95),
        "euclidean_radius_50": round(_radius(euclid, mass, 0.5), 3),
        "euclidean_radius_95": round(_radius(euclid, mass, 0.95), 3),
        "axis_radius_50": axis_50,
        "axis_radius_95": axis_95,
        "theoretical": rf,
        "seed": seed,
        "definition": "Chebyshev radius (box half-width, px) around the centre of the unit's theoretical window "
                      "holding 50%/95% of |d unit / d input|",
    }


__all__ = ["effective_receptive_field"]
