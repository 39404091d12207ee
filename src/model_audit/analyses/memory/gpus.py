"""A small table of common accelerators and their nominal memory, for ``--gpu-memory NAME``.

Nominal capacity as sold (HBM/GDDR size in GiB). A process never gets all of it: the CUDA
context (300-600 MiB), the caching allocator's rounding and fragmentation and library workspaces
take some; ``fit.py`` reports the headroom so the reader can judge the margin.
"""
from __future__ import annotations

from ...units import format_bytes, parse_bytes  # noqa: F401 - re-exported: sizes in binary units


from ...errors import AuditError

GiB = 2**30
GB = 10**9

GPUS: dict[str, int] = {
    "T4": 16 * GiB,
    "V100-16GB": 16 * GiB,
    "V100-32GB": 32 * GiB,
    "A10": 24 * GiB,
    "A10G": 24 * GiB,
    "L4": 24 * GiB,
    "RTX3090": 24 * GiB,
    "RTX4090": 24 * GiB,
    "A40": 48 * GiB,
    "L40S": 48 * GiB,
    "RTX6000-ADA": 48 * GiB,
    "A100-40GB": 40 * GiB,
    "A100-80GB": 80 * GiB,
    "H100-80GB": 80 * GiB,
    "H100-94GB": 94 * GiB,
    "H200": 141 * GB,
    "B200": 180 * GB,
    "MI250X": 128 * GiB,
    "MI300X": 192 * GiB,
}

# PyTorch's default BLAS workspace per thread on each device (runtime.py): cuBLAS gives Hopper and
# Blackwell (compute capability 9.x, 10.x) 32 MiB, earlier GPUs 8 MiB + 128 KiB; hipBLAS 32 MiB, and
# 128 MiB on gfx94x (MI300X).
_PRE_HOPPER = 8 * 2**20 + 128 * 1024
BLAS_WORKSPACE: dict[str, int] = {
    **{name: _PRE_HOPPER for name in ("T4", "V100-16GB", "V100-32GB", "A10", "A10G", "L4", "RTX3090", "RTX4090",
                                      "A40", "L40S", "RTX6000-ADA", "A100-40GB", "A100-80GB")},
    **{name: 32 * 2**20 for name in ("H100-80GB", "H100-94GB", "H200", "B200", "MI250X")},
    "MI300X": 128 * 2**20,
}


def _known(text: str) -> str | None:
    key = str(text).strip().upper().replace(" ", "-").replace("_", "-")
    return next((name for name in GPUS if key == name.upper()), None)


def blas_workspace_of(text: str | None) -> int | None:
    """The default BLAS workspace of a device named in ``GPUS`` (None for a bare size or no device)."""
    name = _known(text) if text is not None else None
    return BLAS_WORKSPACE[name] if name is not None else None


def gpu_capacity(text: str) -> tuple[int, str]:
    """(bytes, label) for a size (``80GiB``) or a device name from ``GPUS`` (case-insensitive)."""
    name = _known(text)
    if name is not None:
        return GPUS[name], name
    try:
        return parse_bytes(text), str(text)
    except ValueError:
        raise AuditError(f"--gpu-memory {text!r} is neither a size (80GiB, 24GB) nor a known device "
                         f"({', '.join(GPUS)})") from None


