"""What CUDA's libraries keep allocated through PyTorch's allocator from one step to the next.

PyTorch gives each thread that runs a cuBLAS matmul on a device a workspace from the caching
allocator, allocated at that thread's first matmul and kept while the thread lives
(``aten/src/ATen/cuda/CublasHandlePool.cpp``, ``getChosenWorkspaceSize``). In a training step two
threads multiply: the caller's (forward and the optimizer step) and autograd's worker thread for the
device (backward). From step 2 on, both workspaces are allocated before the step starts and count in
``torch.cuda.max_memory_allocated``: 2 x 32 MiB on an H100 (measured, torch 2.11;
``benchmarks/memory_gpu.py``). Their size is ``CUBLAS_WORKSPACE_CONFIG`` when set (``:SIZE:COUNT``
pairs, SIZE in KiB), else 32 MiB on compute capability 9.x, 10.x and 12.x (Hopper, Blackwell) and
8 MiB + 128 KiB before. Not counted: the separate 1 MiB cuBLASLt workspace some torch versions add
for a matmul with bias, cuDNN's per-call workspaces (docs/memory.md).
"""
from __future__ import annotations

import os
import re
from typing import Collection

MiB = 2**20
# Compute capabilities (major version) whose cuBLAS workspace is 32 MiB: Hopper and Blackwell.
_LARGE_WORKSPACE_MAJORS = (9, 10, 12)
# Phases run by the calling thread; backward runs on autograd's thread for the device.
_CALLER_PHASES = ("forward", "optimizer")


def default_workspace_bytes(major: int | None) -> int:
    """PyTorch's default cuBLAS workspace for a GPU of compute capability ``major`` (None: unknown,
    taken as a current training GPU, 32 MiB)."""
    if major is None or major in _LARGE_WORKSPACE_MAJORS:
        return 32 * MiB
    return 8 * MiB + 128 * 1024


def workspace_bytes(default: int | None = None) -> int:
    """The workspace one thread holds: ``CUBLAS_WORKSPACE_CONFIG`` if it parses, else ``default``
    (None: this machine's first CUDA device's default, 32 MiB where there is none)."""
    pairs = re.findall(r":([0-9]+):([0-9]+)", os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""))
    if pairs:
        return sum(int(size) * 1024 * int(count) for size, count in pairs)
    return default_workspace_bytes(_local_major()) if default is None else default


def _local_major() -> int | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability(0)[0]


def blas_workspaces(matmul_phases: Collection[str], per_thread: int) -> int:
    """Bytes of the workspaces held during a step whose matmuls ran in ``matmul_phases``."""
    threads = {"caller" if phase in _CALLER_PHASES else "autograd" for phase in matmul_phases}
    return len(threads) * per_thread


__all__ = ["blas_workspaces", "default_workspace_bytes", "workspace_bytes"]
