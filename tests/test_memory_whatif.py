"""Memory what-ifs: activation checkpointing against real torch.utils.checkpoint, bf16 autocast against
CPU autocast, and per-rank sharding against DeepSpeed's published estimator formulas."""
from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn as nn
import torch.utils.checkpoint as checkpoint

import model_audit
from model_audit.analyses.memory import measure_step
from model_audit.analyses.memory.amp import AutocastOnMeta
from model_audit.analyses.memory.sharding import (ShardSpec, deepspeed_figure, deepspeed_zero2, deepspeed_zero3,
                                                   sharded_states)

from memory_models import UNet, build
from memory_oracle import measured_step


def _checkpointed_copy(model: nn.Module, cls: type) -> nn.Module:
    wrapped = copy.deepcopy(model)
    for module in wrapped.modules():
        if type(module) is cls:
            module.forward = functools.partial(checkpoint.checkpoint, module.forward, use_reentrant=False)
    return wrapped


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.down = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(self.norm(x))))


class Tower(nn.Module):
    def __init__(self, width: int = 256, depth: int = 6) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[Block(width) for _ in range(depth)])
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))


@pytest.mark.parametrize("factory, cls, shape", [
    (Tower, Block, (16, 128, 256)),
    (lambda: UNet(width=16), None, (4, 3, 128, 128)),
])
def test_checkpoint_saving_within_10_percent_and_recompute_flops_equal_backward_difference(factory, cls, shape):
    torch.manual_seed(0)
    model = factory().train()
    if cls is None:  # the U-Net's double-conv blocks
        cls = type(model.down1)
    x = torch.randn(*shape)
    report = model_audit.audit(model, (x,), mode="train", memory="train", optimizer="sgd-momentum",
                               memory_options={"checkpoint": cls.__name__}, rules=False)
    what_if = report.memory["checkpoint"]
    assert what_if["modules"]
    # oneDNN's CPU convolutions keep reordered copies and scratch buffers whose size depends on the
    # primitive cache the process has built up (docs/memory.md: not counted); the oracle measures the
    # plain ATen kernels, which is what every backend's saved tensors are.
    with torch.backends.mkldnn.flags(enabled=False):
        plain = measured_step(model, (x,), optimizer="sgd-momentum")["peak"]
        ckpt = measured_step(_checkpointed_copy(model, cls), (x,), optimizer="sgd-momentum")["peak"]
    measured_saving = plain - ckpt
    assert measured_saving > 0
    assert abs(what_if["saved_bytes"] - measured_saving) <= 0.10 * measured_saving, (what_if["saved_bytes"], measured_saving)
    base = model_audit.audit(model, (x,), mode="train", backward=True, tracer="hooks", rules=False)
    wrapped = model_audit.audit(_checkpointed_copy(model, cls), (x,), mode="train", backward=True, tracer="hooks",
                                rules=False)
    assert what_if["recompute_flops"] == wrapped.backward_flops - base.backward_flops > 0


def test_autocast_policy_matches_cpu_autocast_dtypes():
    # the CPU policy of the meta emulation gives every op the dtype real CPU autocast gives it
    x32, w32 = torch.randn(2, 4, 8, 8), torch.randn(4, 4, 3, 3)
    v32, m32 = torch.randn(2, 8), torch.randn(8, 8)
    ops = {
        "linear": lambda v, m, x, w: torch.nn.functional.linear(v, m),
        "matmul": lambda v, m, x, w: v @ m,
        "conv2d": lambda v, m, x, w: torch.nn.functional.conv2d(x, w),
        "bmm": lambda v, m, x, w: torch.bmm(x[0], x[0]),
        "layer_norm": lambda v, m, x, w: torch.nn.functional.layer_norm(v, (8,)),
        "softmax": lambda v, m, x, w: torch.softmax(v, -1),
        "gelu": lambda v, m, x, w: torch.nn.functional.gelu(v),
        "mse_loss": lambda v, m, x, w: torch.nn.functional.mse_loss(v, v),
        "sdpa": lambda v, m, x, w: torch.nn.functional.scaled_dot_product_attention(x, x, x),
    }
    for inputs in [(v32, m32, x32, w32), tuple(t.bfloat16() for t in (v32, m32, x32, w32))]:
        for name, op in ops.items():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                real = op(*inputs).dtype
            meta = tuple(torch.empty_like(t, device="meta") for t in inputs)
            with AutocastOnMeta("cpu", torch.bfloat16):
                emulated = op(*meta).dtype
            assert emulated == real, (name, inputs[0].dtype, emulated, real)


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(256, 1024), nn.GELU(), nn.LayerNorm(1024), nn.Linear(1024, 1024),
                                 nn.GELU(), nn.Linear(1024, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_bf16_autocast_training_peak_matches_a_real_cpu_step():
    torch.manual_seed(0)
    model = MLP().train()
    x = torch.randn(256, 256)
    predicted = measure_step(model, (x,), {}, optimizer="adamw", amp="bf16", amp_device="cpu")
    measured = measured_step(model, (x,), optimizer="adamw", amp="bf16")
    assert abs(predicted.peak_bytes - measured["peak"]) <= 0.05 * measured["peak"]
    fp32 = measure_step(model, (x,), {}, optimizer="adamw")
    assert predicted.activations_bytes < fp32.activations_bytes


def test_bf16_autocast_reaches_inside_multi_head_attention():
    """nn.MultiheadAttention runs F.multi_head_attention_forward, a Python composite: autocast must reach
    its out-projection too (real autocast is a dispatch key; the meta emulation is a function mode)."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(128, 4, 256, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).train()
    x = torch.randn(8, 64, 128)
    predicted = measure_step(model, (x,), {}, optimizer="adamw", amp="bf16", amp_device="cpu")
    measured = measured_step(model, (x,), optimizer="adamw", amp="bf16")
    assert abs(predicted.peak_bytes - measured["peak"]) <= 0.05 * measured["peak"], (predicted.peak_bytes, measured)
    assert predicted.activations_bytes < measure_step(model, (x,), {}, optimizer="adamw", amp_device="cpu").activations_bytes


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2", "bert"])
def test_bf16_autocast_transformers_within_5_percent(name):
    """GPT-2 and BERT configs at 4x256 tokens, 2 layers: CPU bf16 matmuls are slow without AMX, and
    the per-layer pattern of what autocast saves is the same in every layer."""
    from memory_models import bert, gpt2

    _, args, kwargs = build(name)
    torch.manual_seed(0)
    model = (gpt2 if name == "gpt2" else bert)(layers=2).train()
    predicted = measure_step(model, args, kwargs, optimizer="adamw", amp="bf16", amp_device="cpu")
    measured = measured_step(model, args, kwargs, optimizer="adamw", amp="bf16")
    err = (predicted.peak_bytes - measured["peak"]) / measured["peak"]
    assert -0.05 <= err <= 0.05, (name, predicted.peak_bytes, measured["peak"], err)


# DeepSpeed's estimators, written out from deepspeed/runtime/zero/stage_1_and_2.py and stage3.py
def ds_zero2_gpu(total_params, gpus_per_node, nodes):
    return 4 * total_params + int(16 * total_params / (gpus_per_node * nodes))


def ds_zero3_gpu(total_params, largest_layer_params, gpus_per_node, nodes):
    return 4 * largest_layer_params + int(18 * total_params / (gpus_per_node * nodes))


@pytest.mark.parametrize("total, largest", [(124_439_808, 38_597_376), (6_738_415_616, 131_072_000), (7, 3)])
@pytest.mark.parametrize("gpus, nodes", [(1, 1), (8, 1), (8, 4), (3, 1)])
def test_zero_figures_equal_deepspeeds_estimators(total, largest, gpus, nodes):
    assert deepspeed_zero2(total, gpus, nodes, cpu_offload=False)[1] == ds_zero2_gpu(total, gpus, nodes)
    assert deepspeed_zero2(total, gpus, nodes, cpu_offload=True)[1] == 2 * total
    assert deepspeed_zero3(total, largest, gpus, nodes, cpu_offload=False)[1] == ds_zero3_gpu(total, largest, gpus, nodes)
    assert deepspeed_zero3(total, largest, gpus, nodes, cpu_offload=True, cpu_offload_params=True)[1] == 4 * largest
    assert deepspeed_zero3(total, largest, gpus, nodes, cpu_offload=True, cpu_offload_params=False)[1] == \
        4 * largest + int(2 * total / (gpus * nodes))
    ranks = gpus * nodes
    assert deepspeed_figure(ShardSpec("zero2", ranks, gpus), total, largest) == ds_zero2_gpu(total, gpus, nodes)
    assert deepspeed_figure(ShardSpec("zero3", ranks, gpus), total, largest) == ds_zero3_gpu(total, largest, gpus, nodes)


def test_sharded_states_closed_forms():
    p, g, o = 1000, 1000, 2000
    assert sharded_states(ShardSpec("ddp", 4), p, g, o)["model_states_bytes"] == 4000
    assert sharded_states(ShardSpec("zero1", 4), p, g, o)["model_states_bytes"] == 1000 + 1000 + 500
    assert sharded_states(ShardSpec("zero2", 4), p, g, o)["model_states_bytes"] == 1000 + 250 + 500
    assert sharded_states(ShardSpec("zero3", 4), p, g, o, largest_layer_bytes=100)["model_states_bytes"] == 250 + 100 + 250 + 500
    assert sharded_states(ShardSpec("fsdp-hybrid", 16, 8), p, g, o)["model_states_bytes"] == 125 + 125 + 250
    assert ShardSpec.parse("fsdp-hybrid:16:8") == ShardSpec("fsdp-hybrid", 16, 8)
    with pytest.raises(model_audit.errors.AuditError):
        ShardSpec.parse("zero4:8")
