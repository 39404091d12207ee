"""Per-rank model-state bytes beyond one GPU: DDP, ZeRO-1/2/3, FSDP full and hybrid shard.

Two figures, kept apart on purpose:

- ``sharded_states``: this step's own measured parameter, gradient and optimizer-state bytes
  divided the way each strategy partitions them (ZeRO paper, Rajbhandari et al. 2020, fig. 1):
  DDP replicates all three; ZeRO-1 shards the optimizer state; ZeRO-2 also the gradients;
  ZeRO-3 and FSDP ``FULL_SHARD`` also the parameters (plus the largest layer's full parameters,
  gathered while it runs); FSDP ``HYBRID_SHARD`` shards within a node of ``per_node`` ranks.
- ``deepspeed_zero2`` / ``deepspeed_zero3``: DeepSpeed's published estimators
  (``estimate_zero2_model_states_mem_needs`` in ``runtime/zero/stage_1_and_2.py`` and
  ``estimate_zero3_model_states_mem_needs`` in ``runtime/zero/stage3.py``), which assume fp16
  mixed precision with Adam (2 bytes fp16 weights + 2 fp16 gradients + 16 of fp32 master weights,
  gradients and two moments per parameter), reproduced formula for formula.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import AuditError

STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp", "fsdp-hybrid")


@dataclass(frozen=True)
class ShardSpec:
    strategy: str
    ranks: int
    per_node: int = 8

    @classmethod
    def parse(cls, text: str) -> "ShardSpec":
        """``zero3:8``, ``fsdp:16``, ``fsdp-hybrid:16:8`` (ranks, then ranks per node), ``ddp:4``."""
        parts = str(text).strip().lower().split(":")
        if parts[0] not in STRATEGIES or len(parts) not in (2, 3):
            raise AuditError(f"cannot parse --shard {text!r}; use STRATEGY:RANKS[:PER_NODE] with STRATEGY one of "
                             f"{', '.join(STRATEGIES)}, e.g. zero3:8")
        try:
            numbers = [int(p) for p in parts[1:]]
        except ValueError:
            raise AuditError(f"cannot parse --shard {text!r}: ranks must be whole numbers, e.g. zero3:8") from None
        if any(n < 1 for n in numbers):
            raise AuditError(f"--shard {text!r}: ranks must be at least 1")
        ranks = numbers[0]
        per_node = numbers[1] if len(numbers) > 1 else min(ranks, 8)
        return cls(parts[0], ranks, per_node)


def sharded_states(spec: ShardSpec, params_bytes: int, gradients_bytes: int, optimizer_bytes: int,
                   largest_layer_bytes: int = 0) -> dict[str, int]:
    """Per-rank bytes of parameters, gradients and optimizer state under ``spec`` (ceil division)."""
    n = spec.ranks

    def shard(x: int, over: int = n) -> int:
        return -(-x // over)

    p, g, o = params_bytes, gradients_bytes, optimizer_bytes
    if spec.strategy == "ddp":
        parts = (p, g, o)
    elif spec.strategy == "zero1":
        parts = (p, g, shard(o))
    elif spec.strategy == "zero2":
        parts = (p, shard(g), shard(o))
    elif spec.strategy in ("zero3", "fsdp"):
        parts = (shard(p) + largest_layer_bytes, shard(g), shard(o))
    else:  # fsdp-hybrid: sharded within a node, replicated across nodes
        group = min(spec.per_node, n)
        parts = (shard(p, group) + largest_layer_bytes, shard(g, group), shard(o, group))
    return {"params_bytes": parts[0], "gradients_bytes": parts[1], "optimizer_bytes": parts[2],
            "model_states_bytes": sum(parts)}


def deepspeed_zero2(total_params: int, num_gpus_per_node: int = 1, num_nodes: int = 1, cpu_offload: bool = True,
                    additional_buffer_factor: float = 1.5) -> tuple[int, int]:
    """(cpu_bytes, gpu_bytes) per DeepSpeed's ``estimate_zero2_model_states_mem_needs``."""
    total_gpus = num_nodes * num_gpus_per_node
    if cpu_offload:
        gpu_mem = 2 * total_params
        cpu_mem = total_params * max(4 * total_gpus, 16) * additional_buffer_factor
    else:
        gpu_mem = 4 * total_params + int(16 * total_params / total_gpus)
        cpu_mem = total_params * 4 * num_gpus_per_node * additional_buffer_factor
    return int(cpu_mem), int(gpu_mem)


def deepspeed_zero3(total_params: int, largest_layer_params: int, num_gpus_per_node: int = 1, num_nodes: int = 1,
                    cpu_offload: bool = True, cpu_offload_params: bool = True, zero_init: bool = True,
                    additional_buffer_factor: float = 1.5) -> tuple[int, int, int]:
    """(cpu_bytes, gpu_bytes, largest_layer_bytes) per DeepSpeed's ``estimate_zero3_model_states_mem_needs``."""
    total_gpus = num_nodes * num_gpus_per_node
    gpus_factor = 1 / num_nodes
    largest_layer_memory = 4 * largest_layer_params
    if cpu_offload:
        if cpu_offload_params:
            gpu_mem = largest_layer_memory
            if zero_init:
                cpu_mem = total_params * 18 * gpus_factor * additional_buffer_factor
            else:
                cpu_mem = total_params * max(4 * num_gpus_per_node, 18 * gpus_factor) * additional_buffer_factor
        else:
            gpu_mem = largest_layer_memory + int(2 * total_params / total_gpus)
            if zero_init:
                cpu_mem = total_params * 16 * gpus_factor * additional_buffer_factor
            else:
                cpu_mem = total_params * max(4 * num_gpus_per_node, 16 * gpus_factor) * additional_buffer_factor
    else:
        gpu_mem = largest_layer_memory + int(18 * total_params / total_gpus)
        if zero_init:
            cpu_mem = largest_layer_params * 4 * num_gpus_per_node * additional_buffer_factor
        else:
            cpu_mem = total_params * 4 * num_gpus_per_node * additional_buffer_factor
    return int(cpu_mem), int(gpu_mem), int(largest_layer_memory)


def deepspeed_figure(spec: ShardSpec, total_params: int, largest_layer_params: int) -> int | None:
    """DeepSpeed's GPU bytes per rank without offload for ZeRO-2/3 (None for other strategies)."""
    per_node = spec.per_node if spec.ranks % spec.per_node == 0 else spec.ranks
    nodes = spec.ranks // per_node
    if spec.strategy == "zero2":
        return deepspeed_zero2(total_params, per_node, nodes, cpu_offload=False)[1]
    if spec.strategy == "zero3":
        return deepspeed_zero3(total_params, largest_layer_params, per_node, nodes, cpu_offload=False)[1]
    return None
