"""Probe inputs and losses: seeded synthetic batches and the documented default loss.

Synthetic float inputs are N(0, 1) (what a normalized dataset feeds a model); integer inputs are
uniform in ``[0, high)`` with ``high`` the smallest ``num_embeddings`` of the model's embeddings,
so token ids are always valid. The default loss is the mean of squares of the outputs (regression
to zero): it needs no labels, is of order 1 for a well-initialized model whatever the batch size,
and its gradient at the output is ``2·y/numel`` — the gradient every layer sees is the network's
own Jacobian applied to its own output, which is what vanishing/exploding thresholds judge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import AuditError
from ..target.inputs import InputSpec, as_specs, move_inputs, normalize_inputs
from ..trace.shapes import iter_tensors

LOSSES = ("mse", "ce", "sum")


def integer_high(model: nn.Module) -> int:
    """Exclusive upper bound for synthetic integer inputs: the smallest embedding table (else 2)."""
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    return max(1, min(sizes)) if sizes else 2


def synthetic_tensor(spec: InputSpec, generator: torch.Generator, high: int, dtype: torch.dtype | None,
                     device: torch.device) -> torch.Tensor:
    """One seeded tensor for ``spec``: N(0,1) floats (cast to the model's ``dtype``), ints in [0, high)."""
    if spec.dtype.is_floating_point or spec.dtype.is_complex:
        tensor = torch.randn(spec.shape, dtype=torch.float32, generator=generator)
        return tensor.to(device=device, dtype=dtype or spec.dtype)
    if spec.dtype == torch.bool:
        return torch.randint(0, 2, spec.shape, generator=generator).bool().to(device)
    return torch.randint(0, high, spec.shape, generator=generator, dtype=torch.int64).to(device=device, dtype=spec.dtype)


@dataclass
class BatchSource:
    """Yields the probe's batches as ``(args, kwargs)``; synthetic ones can be re-sized (CUDA OOM retry)."""

    specs: list[InputSpec] | None  # None: the user's own inputs, used as given for every batch
    user: tuple[tuple, dict] | None
    high: int
    dtype: torch.dtype | None
    seed: int

    @property
    def synthetic(self) -> bool:
        return self.specs is not None

    def batch_size(self) -> int | None:
        if self.specs:
            return self.specs[0].shape[0] if self.specs[0].shape else None
        tensors = [t for t in iter_tensors(self.user) if t.dim() > 0]
        return int(tensors[0].shape[0]) if tensors else None

    def batch(self, index: int, device: torch.device, *, seq: tuple[int, int] | None = None) -> tuple[tuple, dict]:
        """Batch ``index`` (seeded by ``seed`` and ``index``); ``seq=(axis, length)`` resizes that axis."""
        if self.specs is None:
            args, kwargs = self.user
            return move_inputs(args, device), move_inputs(kwargs, device)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        specs = self.specs
        if seq is not None:
            axis, length = seq
            specs = [InputSpec(s.shape[:axis] + (length,) + s.shape[axis + 1:], s.dtype) if len(s.shape) > axis else s
                     for s in specs]
        return tuple(synthetic_tensor(s, generator, self.high, self.dtype, device) for s in specs), {}

    def halved(self) -> "BatchSource":
        """The same source with half the batch (dimension 0); raises when it is already 1."""
        if not self.specs or not self.specs[0].shape or self.specs[0].shape[0] <= 1:
            raise AuditError("probe: out of CUDA memory even with a batch of 1; try --device cpu")
        new = [InputSpec((max(1, s.shape[0] // 2),) + s.shape[1:], s.dtype) if s.shape else s for s in self.specs]
        return BatchSource(new, None, self.high, self.dtype, self.seed)


def batch_source(model: nn.Module, inputs: Any, input_shape: Any, seed: int, batch_size: int | None = None,
                 float_dtype: torch.dtype | None = None) -> BatchSource:
    """User inputs as given, or synthetic batches of ``input_shape`` (batch dimension 0 → ``batch_size``)."""
    high = integer_high(model)
    if inputs is not None:
        return BatchSource(None, normalize_inputs(inputs), high, float_dtype, seed)
    if input_shape is None:
        raise AuditError("probe: no inputs: pass inputs=... or input_shape=... (CLI: --input)")
    specs = as_specs(input_shape)
    if batch_size is not None:
        specs = [InputSpec((int(batch_size),) + s.shape[1:], s.dtype) if s.shape else s for s in specs]
    return BatchSource(specs, None, high, float_dtype, seed)


def specs_of(inputs: Any) -> list[InputSpec]:
    """Shapes and dtypes of the user's positional tensor inputs (to synthesize longer sequences)."""
    args, kwargs = normalize_inputs(inputs)
    return [InputSpec(tuple(t.shape), t.dtype) for t in iter_tensors((args, kwargs))]


def float_outputs(output: Any) -> list[torch.Tensor]:
    return [t for t in iter_tensors(output) if (t.is_floating_point() or t.is_complex()) and t.requires_grad]


def default_loss(name: str, seed: int) -> Callable[[Any], torch.Tensor]:
    """``mse``: Σ over float outputs of mean(y²); ``sum``: Σ y; ``ce``: cross-entropy of the first
    float output (classes on the last axis) against seeded random labels."""
    if name not in LOSSES:
        raise AuditError(f"unknown probe loss {name!r}; use one of {', '.join(LOSSES)} or pass loss_fn")

    def loss(output: Any) -> torch.Tensor:
        outs = float_outputs(output)
        if not outs:
            raise AuditError("probe: the model returns no floating-point output that requires grad; nothing to backpropagate")
        if name == "mse":
            return sum(t.float().pow(2).mean() for t in outs)
        if name == "sum":
            return sum(t.float().sum() for t in outs)
        logits = outs[0].float()
        logits = logits.reshape(-1, logits.shape[-1]) if logits.dim() > 1 else logits.reshape(1, -1)
        generator = torch.Generator().manual_seed(seed)
        labels = torch.randint(0, logits.shape[-1], (logits.shape[0],), generator=generator).to(logits.device)
        return F.cross_entropy(logits, labels)

    return loss


def make_loss(loss_fn: Callable | str | None, targets: Any, seed: int) -> tuple[Callable[[Any], torch.Tensor], str]:
    """(callable output -> scalar loss, label): ``loss_fn(output, targets)`` when targets are given."""
    if loss_fn is None or isinstance(loss_fn, str):
        name = loss_fn or "mse"
        if targets is not None and name == "mse":
            def mse(output: Any) -> torch.Tensor:
                out = float_outputs(output)[0]
                return F.mse_loss(out.float(), targets.to(out.device).float())
            return mse, "mse(targets)"
        return default_loss(name, seed), name
    if targets is None:
        return loss_fn, getattr(loss_fn, "__name__", type(loss_fn).__name__)

    def with_targets(output: Any) -> torch.Tensor:
        return loss_fn(output, move_inputs(targets, float_outputs(output)[0].device) if float_outputs(output) else targets)

    return with_targets, getattr(loss_fn, "__name__", type(loss_fn).__name__)


def time_axis(model: nn.Module, specs: Sequence[InputSpec]) -> int | None:
    """The input axis that is time for the first recurrent module: 1 if ``batch_first`` else 0."""
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            axis = 1 if module.batch_first else 0
            return axis if specs and len(specs[0].shape) > axis else None
    return None
