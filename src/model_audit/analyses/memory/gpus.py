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

def gpu_capacity(text: str) -> tuple[int, str]:
    """(bytes, label) for a size (``80GiB``) or a device name from ``GPUS`` (case-insensitive)."""
    key = str(text).strip().upper().replace(" ", "-").replace("_", "-")
    for name, size in GPUS.items():
        if key == name.upper():
            return size, name
    try:
        return parse_bytes(text), str(text)
    except ValueError:
        raise AuditError(f"--gpu-memory {text!r} is neither a size (80GiB, 24GB) nor a known device "
                         f"({', '.join(GPUS)})") from None


