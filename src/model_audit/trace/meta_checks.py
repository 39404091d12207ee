"""Checks real kernels make and meta kernels skip, so a model that cannot run does not pass on meta.

On meta, ``mm``/``addmm``/``bmm`` accept a ``Long`` input against ``Float`` weights and
``native_layer_norm``/``native_batch_norm`` accept ``Double`` against ``Float``; on cpu or cuda
the same call raises. An audit that passes on meta (exit 0) for a model that cannot run is a gate
that passes silently, so the counter runs these checks before each such op on meta, with the real
kernels' messages; the engine then retries on cpu and reports the layer and both dtypes.
"""
from __future__ import annotations

from typing import Any

import torch

from ..ir import ops

_SAME_DTYPE = ops.SAME_DTYPE_MATMULS
_NORMS = ops.AFFINE_NORM_KERNELS
_WIDE = (torch.float32, torch.float64)


def _name(func: Any) -> str:
    return getattr(getattr(func, "overloadpacket", func), "__name__", "")


def check_meta_dtypes(func: Any, args: tuple) -> None:
    """Raise the real kernel's ``RuntimeError`` for operand dtypes only meta would accept."""
    name = _name(func)
    if name in _SAME_DTYPE:
        tensors = [a for a in args if isinstance(a, torch.Tensor) and a.device.type == "meta"]
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) > 1:
            got = " and ".join(str(t.dtype).replace("torch.", "") for t in tensors)
            raise RuntimeError(f"{name}: operands must have the same dtype, but got {got}")
    elif name in _NORMS and args and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta":
        x = args[0]
        if not (x.is_floating_point() or x.is_complex()):
            raise RuntimeError(f"{name}: expected a floating-point input, got {str(x.dtype).replace('torch.', '')}")
        for t in args[1:]:
            if isinstance(t, torch.Tensor) and x.dtype in _WIDE and t.dtype in _WIDE and t.dtype != x.dtype:
                raise RuntimeError(f"{name}: mixed dtype: input is {str(x.dtype).replace('torch.', '')}, "
                                   f"parameters are {str(t.dtype).replace('torch.', '')}")
