"""Run fused kernels on meta where a real device would: what a backend saves for backward differs.

On meta, ``F.scaled_dot_product_attention`` cannot ask a backend which kernel to use and falls
back to the math path, which materializes and saves the (B, H, L, L) attention probabilities. On
CPU (``_scaled_dot_product_flash_attention_for_cpu``) and on CUDA (flash / memory-efficient
attention) the fused kernels save only the output and a (B, H, L) log-sum-exp. For the step, the
function is routed to the fused CPU flash kernel (it has a meta kernel and its own backward)
whenever the real backends would accept the call: 4-D inputs of one head size, no dropout, no
grouped-query broadcast. Anything else keeps the original function.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from .amp import current

_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default


@contextlib.contextmanager
def fused_attention() -> Iterator[None]:
    """Patch ``torch.nn.functional.scaled_dot_product_attention`` for the duration of the step."""
    original = F.scaled_dot_product_attention

    def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: Any = None,
             dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
             enable_gqa: bool = False) -> torch.Tensor:
        amp = current()
        if amp is not None:  # the patched function is not a torch function: autocast's policy applies here
            query, key, value = amp.cast((query, key, value), amp.dtype)
        if (query.device.type == "meta" and not enable_gqa and dropout_p == 0.0
                and query.dim() == key.dim() == value.dim() == 4
                and query.shape[-1] == key.shape[-1] == value.shape[-1]
                and query.shape[:2] == key.shape[:2] == value.shape[:2]):
            try:
                return _flash(query, key, value, 0.0, is_causal, attn_mask=attn_mask, scale=scale)[0]
            except (RuntimeError, TypeError):
                pass
        return original(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                        scale=scale, enable_gqa=enable_gqa)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original
