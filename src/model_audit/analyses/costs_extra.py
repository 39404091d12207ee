"""Formulas for the ops real-world code reaches beyond the common table (issue 11).

Registered into :mod:`model_audit.analyses.costs` on import; every op-name set here is marked
``-> ir/ops.py`` so it folds into the single op catalogue:
- fp8 ``_scaled_mm`` and integer ``_int_mm`` are matmuls (MACs like ``mm``);
- ``nll_loss`` forward kernels do one FLOP per selected log-probability plus the reduction;
- ``EmbeddingBag`` reduces every looked-up row into its bag (one FLOP per gathered element);
- variable-length (nested/jagged) attention counts each sequence's own score matrix, not the
  packed batch as one sequence;
- ops that do no arithmetic at all (unpooling scatters, packing, profiler markers) are
  zero-cost, so the uncounted list holds only ops with real cost.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .costs import FORMULAS, ZERO_COST, Cost, _op, attention_cost, formulas_changed, numel, register


@register(_op("_scaled_mm"))
def _scaled_mm(args, kwargs, out) -> Cost:
    """fp8 ``_scaled_mm(a, b, scale_a, scale_b, bias, scale_result, ...)``: the matmul, one
    rescale per output element, and the bias add when there is one."""
    a, b = args[0], args[1]
    macs = numel(a.shape) * b.shape[-1]
    bias = args[4] if len(args) > 4 else kwargs.get("bias")
    result = out[0] if isinstance(out, (tuple, list)) else out
    return Cost(macs, 2 * macs + numel(result.shape) * (1 + (bias is not None)))


@register(_op("_int_mm"))
def _int_mm(args, kwargs, out) -> Cost:
    """int8 x int8 -> int32 matmul: the same multiply-accumulates as ``mm`` (integer operations)."""
    macs = numel(args[0].shape) * args[1].shape[-1]
    return Cost(macs, 2 * macs)


@register(_op("nll_loss_forward"), _op("nll_loss2d_forward"))
def _nll_loss(args, kwargs, out) -> Cost:
    """nll_loss(self, target, weight, reduction, ignore_index): one negation per target (one more
    multiply with class weights), then a sum (and one division for ``mean``) when reduced."""
    target, weight = args[1], args[2] if len(args) > 2 else None
    reduction = int(args[3]) if len(args) > 3 else 1
    n = numel(target.shape)
    flops = n * (2 if weight is not None else 1)
    if reduction != 0:  # 1 = mean, 2 = sum
        flops += n + (1 if reduction == 1 else 0)
    return Cost(0, flops)


@register(_op("_embedding_bag"), _op("_embedding_bag_forward_only"))
def _embedding_bag(args, kwargs, out) -> Cost:
    """``_embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, ...)``:
    every looked-up row is read into its bag's reduction (sum, mean or max): one FLOP per gathered
    element, as the reductions count; ``per_sample_weights`` (sum mode) make it a weighted sum, one
    multiply-accumulate per element. Rows equal to ``padding_idx`` are counted too (on meta the ids
    are unknown)."""
    weight, indices = args[0], args[1]
    per_sample = args[6] if len(args) > 6 else kwargs.get("per_sample_weights")
    gathered = numel(indices.shape) * weight.shape[-1]
    if per_sample is not None:
        return Cost(gathered, 2 * gathered)
    return Cost(0, gathered)


# --------------------------------------------------------------------------- variable-length attention


def _lengths(cumulative: torch.Tensor) -> list[int] | None:
    """Per-sequence lengths from cu_seqlens ([0, l0, l0+l1, ...]); None on meta (values unknown)."""
    if cumulative.device.type == "meta":
        return None
    values = [int(v) for v in cumulative.detach().cpu().tolist()]
    return [b - a for a, b in zip(values, values[1:])]


def varlen_attention_cost(args: Sequence[Any]) -> Cost | None | Any:
    """``_flash_attention_forward`` / ``_efficient_attention_forward`` with ``cu_seqlens``:
    sum over sequences of len_q * len_k scores per head. NotImplemented when the batch is dense;
    None (uncounted, never guessed) when the lengths live on meta and cannot be read."""
    q, v = args[0], args[2]
    # flash: (q, k, v, cum_seq_q, cum_seq_k, ...); efficient: (q, k, v, bias, cu_seqlens_q, cu_seqlens_k, ...)
    at = 3 if q.dim() == 3 else 4
    cu_q = args[at] if len(args) > at + 1 else None
    cu_k = args[at + 1] if len(args) > at + 1 else None
    if not isinstance(cu_q, torch.Tensor) or not isinstance(cu_k, torch.Tensor):
        return NotImplemented
    lq, lk = _lengths(cu_q), _lengths(cu_k)
    if lq is None or lk is None:
        return None
    heads, qk_dim, v_dim = q.shape[-2], q.shape[-1], v.shape[-1]
    total = Cost()
    for len_q, len_k in zip(lq, lk):
        total = total + attention_cost(heads, len_q, len_k, qk_dim, v_dim)
    return total


# --------------------------------------------------------------------------- zero-cost ops

# No floating-point arithmetic: unpooling scatters values into zeros, packing reorders rows,
# the rest are checks and profiler markers.  -> ir/ops.py
ZERO_COST_EXTRA = {
    "aten": ("max_unpool2d", "max_unpool3d", "_pack_padded_sequence", "_pad_packed_sequence", "_is_all_true",
             "_is_any_true", "_record_function_enter", "_record_function_enter_new", "_record_function_exit",
             "is_nonzero", "_nested_tensor_from_mask_left_aligned", "sym_constrain_range_for_size",
             "_nested_get_lengths", "_nested_get_offsets", "_nested_get_values", "_nested_view_from_jagged",
             "_nested_get_jagged_dummy", "_nested_get_min_seqlen", "_nested_get_max_seqlen"),
    "profiler": ("_record_function_enter", "_record_function_enter_new", "_record_function_exit"),
}
for _namespace, _names in ZERO_COST_EXTRA.items():
    for _name in _names:
        try:
            _packet = getattr(getattr(torch.ops, _namespace), _name)
        except (AttributeError, RuntimeError):
            continue
        if _packet not in FORMULAS:
            ZERO_COST.add(_packet)
formulas_changed()
