"""On meta a dtype mismatch the real kernels refuse is an error too (exit 2), never a silent pass."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from model_audit import audit
from model_audit.errors import ModelExecutionError

BAD = {
    "long-into-linear": (lambda: nn.Linear(4, 4), lambda: torch.zeros(2, 4, dtype=torch.int64)),
    "double-into-linear": (lambda: nn.Linear(4, 4), lambda: torch.randn(2, 4, dtype=torch.float64)),
    "double-into-batchnorm": (lambda: nn.Sequential(nn.BatchNorm1d(4)), lambda: torch.randn(2, 4, dtype=torch.float64)),
    "double-into-layernorm": (lambda: nn.Sequential(nn.LayerNorm(4)), lambda: torch.randn(2, 4, dtype=torch.float64)),
    "double-into-bmm": (lambda: _Bmm(), lambda: torch.randn(2, 3, 4, dtype=torch.float64)),
}


class _Bmm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 4, 5))

    def forward(self, x):
        return torch.bmm(x, self.w)


@pytest.mark.parametrize("name", sorted(BAD))
def test_meta_refuses_what_cpu_refuses(name) -> None:
    model, x = BAD[name]
    for device in ("cpu", "meta"):  # the cpu result is the oracle: it must fail there too
        with pytest.raises(ModelExecutionError, match="dtype|scalar type"):
            audit(model(), x(), device=device)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_supported_mixes_still_pass_on_meta(dtype) -> None:
    model = nn.Sequential(nn.LayerNorm(4).to(dtype), nn.Linear(4, 4).to(dtype))
    x = torch.randn(2, 4, dtype=dtype)
    assert audit(model, x, device="meta").device == "meta"
    assert audit(model, x, device="cpu").macs == audit(model, x, device="meta").macs == 2 * 4 * 4
