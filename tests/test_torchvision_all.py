"""Every torchvision model (all 121 of ``list_models()``) audits exactly and leaves the model as it was.

For classification, detection, segmentation, video, optical flow and quantizable models:
- the audit succeeds (default device: meta, with its cpu fallback);
- params equal ``sum(p.numel())`` over the real model's distinct parameters, and the published
  ``weights.meta["num_params"]`` where the built architecture is the one the weights describe;
- MACs equal ``torch.utils.flop_counter.FlopCounterMode``'s total / 2 on the same input;
- the model is bitwise unchanged (parameters, buffers, plain tensor attributes) and still runs,
  giving the same output as before the audit.

Models up to ``CPU_LIMIT`` parameters are built and compared on CPU with small inputs; larger ones
are built on meta (FlopCounterMode counts there too) so the whole file stays within CI time.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

torchvision = pytest.importorskip("torchvision")
from torchvision.models import get_model, get_model_weights, list_models  # noqa: E402

from model_audit import audit  # noqa: E402

pytestmark = pytest.mark.slow

MODELS = sorted(list_models())
CPU_LIMIT = 30_000_000  # parameters; above it the model is built and counted on meta


FAMILIES = {name: family for family in ("detection", "segmentation", "video", "optical_flow", "quantization")
            for name in list_models(module=getattr(torchvision.models, family))}


def _family(name: str) -> str:
    return FAMILIES.get(name, "classification")


def _spec(name: str) -> tuple[dict, object]:
    """(constructor kwargs, example input builder(device)) with inputs as small as the model allows."""
    family = _family(name)
    kwargs: dict = {}
    size = 64
    if family == "detection":
        kwargs = {"weights_backbone": None}
        if not name.startswith("ssd"):
            kwargs.update(min_size=64, max_size=64)
        return kwargs, lambda d: ([torch.rand(3, 64, 64, device=d)],)
    if family == "segmentation":
        kwargs = {"weights_backbone": None, "aux_loss": not name.startswith("lraspp")}  # as the weights are
    if family == "video":
        if name.startswith("mvit"):
            return kwargs, lambda d: (torch.randn(1, 3, 16, 224, 224, device=d),)
        frames, side = (16, 224) if name == "s3d" else (8, 64)  # s3d pools (2, 7, 7) at stride 8 and 32
        return kwargs, lambda d: (torch.randn(1, 3, frames, side, side, device=d),)
    if family == "optical_flow":
        return kwargs, lambda d: (torch.rand(1, 3, 128, 128, device=d), torch.rand(1, 3, 128, 128, device=d),
                                 2)  # two flow updates instead of 12: the same ops, fewer times
    if family == "quantization":
        kwargs = {"quantize": False}
    base = name.replace("quantized_", "")
    if base.startswith("vit_"):
        kwargs["image_size"] = size = 56 if base == "vit_h_14" else 64  # a multiple of the patch size
    if base == "maxvit_t":
        size = 224
    if base.startswith("inception") or base == "googlenet":
        kwargs.update(init_weights=False)
    if base.startswith("inception"):
        size = 96  # its stem needs at least 75 pixels
    if base == "googlenet":
        kwargs.update(aux_logits=False)  # as the weights builder leaves it (num_params excludes the aux heads)
    return kwargs, lambda d, s=size: (torch.randn(1, 3, s, s, device=d),)


def _build(name: str, kwargs: dict) -> tuple[nn.Module, torch.device]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.device("meta"):
                model = get_model(name, weights=None, **kwargs)
        except (NotImplementedError, RuntimeError):
            model = None
        distinct = {id(p): p.numel() for p in model.parameters()} if model is not None else {}
        # Detection post-processing (nonzero, NMS) needs real data: those always build on CPU.
        if model is None or sum(distinct.values()) <= CPU_LIMIT or _family(name) == "detection":
            torch.manual_seed(0)
            model = get_model(name, weights=None, **kwargs)
    return model.eval(), next(model.parameters()).device


def _snapshot(model: nn.Module) -> dict[str, object]:
    """Every parameter, buffer and plain tensor attribute (lists of tensors included), by path."""
    state: dict[str, object] = {}
    for path, module in model.named_modules():
        for key, value in vars(module).items():
            tensors = [value] if isinstance(value, torch.Tensor) else (
                list(value) if isinstance(value, (list, tuple)) and value and all(
                    isinstance(v, torch.Tensor) for v in value) else [])
            for i, t in enumerate(tensors):
                state[f"{path}.{key}[{i}]"] = (t, t.device, t.dtype, tuple(t.shape),
                                               None if t.device.type == "meta" else t.detach().clone())
        for key, t in list(module._parameters.items()) + list(module._buffers.items()):
            if t is not None:
                state[f"{path}.{key}"] = (t, t.device, t.dtype, tuple(t.shape),
                                          None if t.device.type == "meta" else t.detach().clone())
    return state


def _changes(before: dict, after: dict) -> list[str]:
    changed = [k for k in before.keys() ^ after.keys()]
    for key in before.keys() & after.keys():
        t0, dev0, dt0, shape0, data0 = before[key]
        t1, dev1, dt1, shape1, data1 = after[key]
        if (dev0, dt0, shape0) != (dev1, dt1, shape1) or (data0 is not None and not torch.equal(data0, data1)):
            changed.append(key)
    return sorted(changed)


def _first_tensor(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    for item in out:
        found = _first_tensor(item) if isinstance(item, (torch.Tensor, list, tuple, dict)) else None
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_audits_exactly_and_unchanged(name):
    kwargs, make_inputs = _spec(name)
    model, device = _build(name, kwargs)
    inputs = make_inputs(device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference = model(*inputs)
    before = _snapshot(model)

    report = audit(model, inputs, rules=False)

    distinct = {id(p): p.numel() for p in model.parameters()}
    assert report.params == sum(distinct.values())
    weights = get_model_weights(name).DEFAULT
    if _family(name) != "detection" and "num_params" in weights.meta and not kwargs.get("image_size"):
        assert report.params == weights.meta["num_params"]
    oracle = counter.get_total_flops()
    if oracle:
        assert 2 * report.macs == oracle, f"{report.macs:,} MACs vs FlopCounterMode {oracle:,} FLOPs / 2"
    assert _changes(before, _snapshot(model)) == []
    with torch.no_grad():
        again = model(*inputs)
    if device.type != "meta":
        first, second = _first_tensor(reference), _first_tensor(again)
        assert first is None or torch.equal(first, second)


def test_all_121_models_are_listed():
    assert len(MODELS) == 121
