"""KV cache bytes of a decoder at a context length, in closed form from its config.

Per layer and token a decoder keeps one key and one value vector per key/value head:
``2 * kv_heads * head_dim * dtype_bytes`` bytes. Grouped-query attention shares a KV head among
``heads / kv_heads`` query heads (``num_key_value_heads``); a sliding-window layer keeps at most
``window`` tokens. Layers listed as ``sliding_attention`` in ``layer_types`` (Gemma 2/3, Qwen 2)
are windowed; with no ``layer_types`` a ``sliding_window`` applies to every layer (Mistral) unless
``use_sliding_window`` is false.
"""
from __future__ import annotations

from typing import Any

import torch


def _first(config: Any, *names: str) -> Any:
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


def kv_cache_bytes(config: Any, context: int, batch: int = 1, dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Bytes of the KV cache at ``context`` tokens for ``batch`` sequences, and per token (all layers)."""
    layers = int(_first(config, "num_hidden_layers", "n_layer", "num_layers"))
    heads = int(_first(config, "num_attention_heads", "n_head"))
    kv_heads = int(_first(config, "num_key_value_heads", "multi_query_group_num") or heads)
    hidden = int(_first(config, "hidden_size", "n_embd", "d_model"))
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    window = getattr(config, "sliding_window", None)
    if getattr(config, "use_sliding_window", True) is False:
        window = None
    kinds = getattr(config, "layer_types", None)
    if kinds is None:
        kinds = ["sliding_attention" if window else "full_attention"] * layers
    element = torch.empty((), dtype=dtype).element_size()
    per_token_layer = 2 * kv_heads * head_dim * element
    tokens = [min(context, int(window)) if kind == "sliding_attention" and window else context for kind in kinds]
    total = batch * per_token_layer * sum(tokens)
    return {"context": context, "batch": batch, "dtype": str(dtype).replace("torch.", ""), "layers": layers,
            "kv_heads": kv_heads, "head_dim": head_dim, "sliding_window": int(window) if window else None,
            "bytes_per_token": per_token_layer * layers, "bytes": total}
