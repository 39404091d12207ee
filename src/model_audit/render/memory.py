"""The memory analysis in the table: per-layer saved/live columns and the summary lines after it."""
from __future__ import annotations

from typing import Any

from ..escaping import plain
from ..units import format_bytes


def describe(data: dict[str, Any]) -> list[str]:
    """Human lines for the table, Markdown and HTML: the peak, its parts, the fit, checkpointing, sharding,
    KV cache. User strings (layer names, optimizer, GPU, patterns) are ``plain``: one line each; Markdown
    and HTML escape the whole line for their format."""
    kind = "training step" if data["kind"] == "train" else "inference (no_grad)"
    optimizer = data.get("optimizer") and " ".join(
        x for x in (f"optimizer {plain(data['optimizer'])}", data.get("optimizer_impl") and f"({plain(data['optimizer_impl'])})") if x)
    extras = ", ".join(x for x in (optimizer,
                                   data.get("amp") and f"autocast {data['amp']}",
                                   data.get("weights_dtype") and f"weights {data['weights_dtype']}",
                                   data.get("batch") and f"batch {data['batch']}") if x)
    lines = [f"Memory ({kind}{', ' + extras if extras else ''}): peak {format_bytes(data['peak_bytes'])} in {data['peak_phase']}"]
    parts = [("params", "params_bytes"), ("gradients", "gradients_bytes"), ("optimizer", "optimizer_bytes"),
             ("buffers", "buffers_bytes"), ("inputs", "inputs_bytes"), ("saved activations", "activations_bytes")]
    lines.append("  " + " · ".join(f"{label} {format_bytes(data[key])}" for label, key in parts if data.get(key)))
    at_peak = data.get("at_peak") or {}
    if at_peak:
        lines.append("  at the peak: " + " · ".join(f"{k} {format_bytes(v)}" for k, v in at_peak.items()))
    if data.get("top_layers"):
        lines.append("  layers holding most at the peak: " + ", ".join(
            f"{plain(t['name'])} ({format_bytes(t['bytes'])})" for t in data["top_layers"]))
    fit = data.get("fit")
    if fit:
        verdict = "fits" if fit["fits"] else "does NOT fit"
        lines.append(f"  {plain(fit['gpu'])} ({format_bytes(fit['capacity_bytes'])}): {verdict}, headroom "
                     f"{format_bytes(fit['headroom_bytes'])}"
                     + (f"; largest batch that fits: {fit['largest_batch']}" if "largest_batch" in fit else ""))
    ckpt = data.get("checkpoint")
    if ckpt:
        lines.append(f"  checkpointing {len(ckpt['modules'])} module(s) ({plain(', '.join(ckpt['patterns']))}): peak "
                     f"{format_bytes(ckpt['peak_bytes'])}, saves {format_bytes(ckpt['saved_bytes'])}, recompute "
                     f"+{ckpt['recompute_flops'] / 1e9:.2f} GFLOPs")
    shard = data.get("shard")
    if shard:
        ds = shard.get("deepspeed_estimate_bytes")
        lines.append(f"  {shard['strategy']} over {shard['ranks']} ranks: model states "
                     f"{format_bytes(shard['model_states_bytes'])} per rank, peak {format_bytes(shard['peak_bytes_per_rank'])}"
                     + (f" (DeepSpeed's fp16+Adam estimator: {format_bytes(ds)})" if ds is not None else ""))
    kv = data.get("kv_cache")
    if kv:
        lines.append(f"  KV cache at {kv['context']} tokens x batch {kv['batch']} ({kv['dtype']}): "
                     f"{format_bytes(kv['bytes'])} ({kv['bytes_per_token']} bytes per token)")
    return lines


def memory_text(report: Any) -> str:
    """The lines printed after the table ('' when the analysis did not run)."""
    return "" if report.memory is None else "\n".join(describe(report.memory))


def memory_columns(report: Any) -> dict[str, Any]:
    """Table columns: bytes a row's layers save for backward, and the most bytes alive while they ran."""
    if report.memory is None:
        return {}

    def figures(row: Any, key: str) -> list[int]:
        return [layer.attrs["memory"][key] for layer in row.layers if "memory" in layer.attrs]

    def saved(row: Any) -> str:
        values = figures(row, "saved_bytes")
        return format_bytes(sum(values)) if values and sum(values) else ""

    def live(row: Any) -> str:
        values = figures(row, "live_bytes")
        return format_bytes(max(values)) if values else ""

    return {"saved": saved, "live": live}
