"""Example inputs: parse ``--input 1,3,224,224`` / ``1,128:int64`` and build tensors on a device."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..errors import InputSpecError
from ..numbers import check_shape

_DTYPES = {
    name: getattr(torch, name)
    for name in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
}
_DTYPES.update({"float": torch.float32, "half": torch.float16, "double": torch.float64, "long": torch.int64,
                "int": torch.int32})


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32

    def build(self, device: torch.device) -> torch.Tensor:
        if device.type == "meta":
            return torch.empty(self.shape, dtype=self.dtype, device=device)
        if self.dtype.is_floating_point or self.dtype.is_complex:
            generator = torch.Generator(device="cpu").manual_seed(0)
            return torch.randn(self.shape, dtype=self.dtype, generator=generator).to(device)
        return torch.zeros(self.shape, dtype=self.dtype, device=device)  # index 0 is valid for any embedding


def parse_input_spec(text: str) -> InputSpec:
    """'1,3,224,224' -> float32 [1,3,224,224]; '1,128:int64' -> int64 [1,128]; 'x' separators allowed."""
    raw = str(text).strip()
    if len(raw) > 200:
        raise InputSpecError(f"--input {raw[:20]!r}... is {len(raw)} characters long; give a shape such as 1,3,224,224")
    shape_part, _, dtype_part = raw.partition(":")
    dtype = torch.float32
    if dtype_part:
        key = dtype_part.strip().lower().replace("torch.", "")
        if key not in _DTYPES:
            raise InputSpecError(
                f"unknown dtype {dtype_part!r} in --input {raw!r}; use one of: {', '.join(sorted(_DTYPES))}"
            )
        dtype = _DTYPES[key]
    parts = [p for p in shape_part.replace("x", ",").replace("×", ",").replace(" ", ",").strip("()[]").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InputSpecError(
            f"cannot parse --input {raw!r}: expected comma-separated integers with an optional dtype, "
            f"e.g. 1,3,224,224 or 1,128:int64"
        ) from None
    if not shape:
        raise InputSpecError(f"cannot parse --input {raw!r}: a shape needs at least one non-negative size")
    return InputSpec(_checked(shape, raw), dtype)


def _checked(shape: tuple[int, ...], label: Any) -> tuple[int, ...]:
    try:
        return check_shape(shape)
    except ValueError as error:
        raise InputSpecError(f"input shape {label!r}: {error}") from None


def as_specs(input_shape: Any) -> list[InputSpec]:
    """Accept (1,3,224,224), [(1,3,224,224), (1,10)], '1,3,224,224', InputSpec or lists of those."""
    if isinstance(input_shape, InputSpec):
        return [input_shape]
    if isinstance(input_shape, str):
        return [parse_input_spec(input_shape)]
    if isinstance(input_shape, torch.Size) or (
        isinstance(input_shape, Sequence) and input_shape and all(isinstance(s, int) for s in input_shape)
    ):
        return [InputSpec(_checked(tuple(int(s) for s in input_shape), tuple(input_shape)))]
    if isinstance(input_shape, Sequence) and input_shape:
        specs: list[InputSpec] = []
        for item in input_shape:
            specs.extend(as_specs(item))
        return specs
    raise InputSpecError(f"cannot use {input_shape!r} as an input shape; give e.g. (1, 3, 224, 224)")


def normalize_inputs(inputs: Any) -> tuple[tuple, dict]:
    """User inputs to (args, kwargs): a tensor, a tuple/list of positional inputs, or a dict of kwargs."""
    if inputs is None:
        return (), {}
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)) and not _is_namedtuple(inputs):
        return tuple(inputs), {}
    return (inputs,), {}  # a tensor, or a namedtuple the model takes as one argument


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def move_inputs(obj: Any, device: torch.device) -> Any:
    """Move tensors (nested in tuples/lists/dicts) to ``device``; meta keeps only shape and dtype."""
    if isinstance(obj, torch.Tensor):
        # Always a detached stand-in: a counted backward pass must not leave .grad on the caller's
        # tensor, and requires_grad is kept so meta and cpu audits count the same backward work.
        if obj.device.type == "meta" and device.type != "meta":
            moved = InputSpec(tuple(obj.shape), obj.dtype).build(device)
        else:
            moved = obj.detach().to(device)
            if moved.device.type != "meta" and moved.device == obj.device:
                moved = moved.clone()  # an in-place first layer must not write into the caller's tensor
        if obj.requires_grad and (moved.is_floating_point() or moved.is_complex()):
            # A non-leaf copy: an in-place first op (``x.mul_(2)``, ReLU(inplace=True)) is legal on
            # it, as on the caller's own non-leaf activations, and never touches the caller's tensor.
            with torch.inference_mode(False), torch.enable_grad():
                moved = moved.clone().requires_grad_(True).clone()
        return moved
    if _is_namedtuple(obj):  # keep the type: forward reads fields by name
        return type(obj)(*(move_inputs(o, device) for o in obj))
    if isinstance(obj, tuple):
        return tuple(move_inputs(o, device) for o in obj)
    if isinstance(obj, list):
        return [move_inputs(o, device) for o in obj]
    if isinstance(obj, dict):
        return {k: move_inputs(v, device) for k, v in obj.items()}
    return obj
