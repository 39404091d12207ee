"""A small table of common accelerators and their nominal memory, for ``--gpu-memory NAME``.

Nominal capacity as sold (HBM/GDDR size in GiB). A process never gets all of it: the CUDA
context (300-600 MiB), the caching allocator's rounding and fragmentation and library workspaces
take some; ``fit.py`` reports the headroom so the reader can judge the margin.
"""
from __future__ import annotations

from ...units import format_bytes, parse_bytes  # noqa: F401 - re-exported: sizes in binary units


from ...errors import AuditError
from .runtime import default_workspace_bytes

GiB = 2**30
GB = 10**9

MiB = 2**20
_HIPBLAS = 32 * MiB  # hipBLAS's default workspace; 128 MiB on gfx94x (MI300X)

# name -> (nominal capacity, PyTorch's default BLAS workspace per thread: runtime.py; cuBLAS's
# follows the compute capability's major version)
GPUS: dict[str, tuple[int, int]] = {
    "T4": (16 * GiB, default_workspace_bytes(7)),
    "V100-16GB": (16 * GiB, default_workspace_bytes(7)),
    "V100-32GB": (32 * GiB, default_workspace_bytes(7)),
    "A10": (24 * GiB, default_workspace_bytes(8)),
    "A10G": (24 * GiB, default_workspace_bytes(8)),
    "L4": (24 * GiB, default_workspace_bytes(8)),
    "RTX3090": (24 * GiB, default_workspace_bytes(8)),
    "RTX4090": (24 * GiB, default_workspace_bytes(8)),
    "A40": (48 * GiB, default_workspace_bytes(8)),
    "L40S": (48 * GiB, default_workspace_bytes(8)),
    "RTX6000-ADA": (48 * GiB, default_workspace_bytes(8)),
    "A100-40GB": (40 * GiB, default_workspace_bytes(8)),
    "A100-80GB": (80 * GiB, default_workspace_bytes(8)),
    "H100-80GB": (80 * GiB, default_workspace_bytes(9)),
    "H100-94GB": (94 * GiB, default_workspace_bytes(9)),
    "H200": (141 * GB, default_workspace_bytes(9)),
    "B200": (180 * GB, default_workspace_bytes(10)),
    "MI250X": (128 * GiB, _HIPBLAS),
    "MI300X": (192 * GiB, 4 * _HIPBLAS),
}


def _known(text: str) -> str | None:
    key = str(text).strip().upper().replace(" ", "-").replace("_", "-")
    return next((name for name in GPUS if key == name.upper()), None)


def blas_workspace_of(text: str | None) -> int | None:
    """The default BLAS workspace of a device named in ``GPUS`` (None for a bare size or no device)."""
    name = _known(text) if text is not None else None
    return GPUS[name][1] if name is not None else None


def gpu_capacity(text: str) -> tuple[int, str]:
    """(bytes, label) for a size (``80GiB``) or a device name from ``GPUS`` (case-insensitive)."""
    name = _known(text)
    if name is not None:
        return GPUS[name][0], name
    try:
        return parse_bytes(text), str(text)
    except ValueError:
        raise AuditError(f"--gpu-memory {text!r} is neither a size (80GiB, 24GB) nor a known device "
                         f"({', '.join(GPUS)})") from None


