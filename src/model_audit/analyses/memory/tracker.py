"""Live tensor storages at the ATen dispatch level: what an allocator would hold, op by op.

A ``TorchDispatchMode`` sees the outputs of every ATen op (forward, autograd's backward, the
optimizer's step). Each new storage becomes a ``Block`` whose lifetime ends when the storage's
Python object dies: PyTorch keeps one Python object per storage, so a weak reference with a
callback fires exactly when the last tensor or view on it goes (the technique of
``torch.distributed._tools.mem_tracker``). Views and in-place results share their base's
storage and are counted once. Blocks keep their allocation and free times, so the breakdown at
the peak is computed afterwards by interval, whatever category a block is later given
(a gradient is only known to be one after backward).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch

from ...ir import ops
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..costs import op_cost, op_name
from .kernels import onednn_lstm_scratch_bytes
from ...trace.meta_cache import META_KERNELS


@dataclass(eq=False)
class Block:
    """One storage: its bytes, when it was allocated and freed (op counter), and who made it."""

    nbytes: int
    alloc: int
    category: str  # params, buffers, optimizer, inputs, gradients, activations, temporaries, workspaces
    phase: str  # baseline, forward, backward, optimizer
    layer: str | None
    free: int | None = None
    saved_by: str | None = None  # the layer whose forward saved it for backward

    def alive_at(self, t: int) -> bool:
        """Whether the block is in the live total the tracker sampled at tick ``t``.

        ``alloc`` and ``free`` are the clock's reading when the storage was made and when it died;
        ``tick`` advances the clock *then* samples, so a block made while the clock reads ``c`` is
        first sampled at tick ``c + 1``, and one freed while it reads ``c`` was still in sample ``c``.
        """
        return self.alloc < t and (self.free is None or self.free >= t)


@dataclass
class LayerMemory:
    """Per module scope: bytes saved for backward by its ops, and the most bytes alive while it ran."""

    saved_bytes: int = 0
    live_bytes: int = 0


class StorageTracker(TorchDispatchMode):
    """Tracks every storage an op creates; keeps the running total, its peak, phase and FLOPs."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[Block] = []
        self._refs: dict[int, tuple[weakref.ref, Block]] = {}
        self.clock = 0
        self.live = 0
        self.peak = 0
        self.peak_clock = 0
        self.peak_phase = "baseline"
        self.phase = "baseline"
        self.scope: list[str] = []
        self.layers: dict[str, LayerMemory] = {}
        self.flops: dict[str, int] = {}
        self.uncounted: dict[str, set[str]] = {}  # phase -> ops with no FLOP formula (a fused optimizer step)
        self.samples: list[tuple[int, str]] = []  # (live bytes, phase) at every tick: the timeline's source
        self.matmul_phases: set[str] = set()  # phases that ran a BLAS matmul (CUDA: a cuBLAS workspace per thread)

    # -- storages ---------------------------------------------------------------------------
    def track(self, t: torch.Tensor, category: str) -> Block | None:
        """The block holding ``t``'s storage, created (and counted live) the first time it is seen."""
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # sparse, nested or other storage-less tensors
            return None
        entry = self._refs.get(id(st))
        if entry is not None and entry[0]() is st:
            block = entry[1]
            size = st.nbytes()
            if size != block.nbytes:  # resize_ through an out= op
                self.live += size - block.nbytes
                block.nbytes = size
            return block
        layer = self.scope[-1] if self.scope else None
        block = Block(st.nbytes(), self.clock, category, self.phase, layer)
        ref = weakref.ref(st, lambda r, b=block, k=id(st): self._freed(b, k, r))
        self._refs[id(st)] = (ref, block)
        self.blocks.append(block)
        self.live += block.nbytes
        return block

    def _freed(self, block: Block, key: int, ref: weakref.ref) -> None:
        block.free = self.clock
        self.live -= block.nbytes
        entry = self._refs.get(key)
        if entry is not None and entry[0] is ref:
            del self._refs[key]

    def add_resident(self, nbytes: int, category: str) -> None:
        """Bytes allocated before the step and held all through it (the cuBLAS workspaces of step 1)."""
        self.blocks.append(Block(nbytes, 0, category, "baseline", None))
        self.live += nbytes
        self.peak += nbytes
        self.samples = [(live + nbytes, phase) for live, phase in self.samples]

    def block_of(self, t: torch.Tensor) -> Block | None:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return None
        entry = self._refs.get(id(st))
        return entry[1] if entry is not None and entry[0]() is st else None

    def tick(self) -> None:
        """Advance the clock and note the peak (called after each op and at phase boundaries)."""
        self.clock += 1
        self.samples.append((self.live, self.phase))
        if self.live > self.peak:
            self.peak = self.live
            self.peak_clock = self.clock
            self.peak_phase = self.phase
        if self.scope:
            stats = self.layers.setdefault(self.scope[-1], LayerMemory())
            stats.live_bytes = max(stats.live_bytes, self.live)

    # -- saved tensors ----------------------------------------------------------------------
    def pack(self, t: torch.Tensor) -> torch.Tensor:
        """``saved_tensors_hooks`` pack: mark the storage as saved for backward by the running layer."""
        block = self.block_of(t)
        if block is not None and block.category in ("activations", "temporaries") and block.saved_by is None:
            block.category = "activations"
            block.saved_by = self.scope[-1] if self.scope else "(model)"
            self.layers.setdefault(block.saved_by, LayerMemory()).saved_bytes += block.nbytes
        return t

    # -- dispatch ---------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        out = META_KERNELS.call(func, args, kwargs)
        cost = op_cost(func, args, kwargs, out)
        if cost is not None:
            self.flops[self.phase] = self.flops.get(self.phase, 0) + cost.flops
        else:
            self.uncounted.setdefault(self.phase, set()).add(op_name(func))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.track(leaf, "temporaries")
        name = getattr(func, "__name__", "").split(".")[0]  # "mm.default" -> "mm"
        if name in _MATMULS:
            self.matmul_phases.add(self.phase)
        workspace = matmul_workspace(name, args) + onednn_lstm_scratch_bytes(func, args)
        if workspace:  # alive only while the op runs: counted at this tick, freed before the next
            block = Block(workspace, self.clock, "temporaries", self.phase, self.scope[-1] if self.scope else None)
            self.blocks.append(block)
            self.live += workspace
            self.tick()
            block.free = self.clock  # freed right after this tick's sample, as the op returns
            self.live -= workspace
        else:
            self.tick()
        return out

    # -- results ----------------------------------------------------------------------------
    def breakdown_at(self, clock: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        for block in self.blocks:
            if block.alive_at(clock):
                totals[block.category] = totals.get(block.category, 0) + block.nbytes
        return totals

    def top_layers_at(self, clock: int, count: int = 3) -> list[tuple[str, int]]:
        """The layers whose saved activations hold the most bytes at ``clock``."""
        held: dict[str, int] = {}
        for block in self.blocks:
            if block.saved_by is not None and block.alive_at(clock):
                held[block.saved_by] = held.get(block.saved_by, 0) + block.nbytes
        return sorted(held.items(), key=lambda kv: (-kv[1], kv[0]))[:count]


_MATMULS = ops.BLAS_MATMULS


def _blas_ready(t: torch.Tensor) -> bool:
    """Whether BLAS can read ``t``'s last two dims in place (row- or column-major, positive strides)."""
    rows, cols = t.shape[-2], t.shape[-1]
    s_row, s_col = t.stride()[-2], t.stride()[-1]
    return (s_col == 1 and s_row >= max(1, cols)) or (s_row == 1 and s_col >= max(1, rows)) or t.numel() <= 1


def matmul_workspace(name: str, args: tuple) -> int:
    """Bytes a matmul kernel (``name``: the op's bare name) copies its operands into: CPU and CUDA BLAS
    make an operand whose strides they cannot read (an expanded gradient such as ``sum()``'s, stride 0)
    contiguous first."""
    if name not in _MATMULS:
        return 0
    operands = [a for a in args if isinstance(a, torch.Tensor) and a.dim() >= 2]
    if name in ("addmm", "baddbmm"):
        operands = operands[1:]  # the added term is read elementwise
    return sum(t.numel() * t.element_size() for t in operands if not _blas_ready(t))


def tensors_in(obj: Any) -> list[torch.Tensor]:
    return [leaf for leaf in tree_leaves(obj) if isinstance(leaf, torch.Tensor)]


__all__ = ["Block", "LayerMemory", "StorageTracker", "matmul_workspace", "tensors_in"]
