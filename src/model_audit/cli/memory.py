"""``--memory`` and its options: argparse -> ``audit(memory=..., ...)`` keywords -> lines under the table."""
from __future__ import annotations

import argparse
from typing import Any

from ..report.budget import Budget


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("memory", "will it fit: a training step or inference measured on meta "
                                               "tensors (see docs/memory.md)")
    group.add_argument("--memory", nargs="?", const="train", choices=["train", "inference"], default=None,
                       help="measure peak memory of a training step (default) or of inference under no_grad; "
                            "the step runs in --mode (use --mode train for dropout/batch-norm training behaviour)")
    group.add_argument("--optimizer", default="adamw",
                       choices=["sgd", "sgd-momentum", "adam", "adamw", "rmsprop", "adagrad"],
                       help="optimizer whose state the training step keeps (default adamw)")
    group.add_argument("--optimizer-impl", default="auto", choices=["auto", "foreach", "fused", "forloop"],
                       help="the optimizer step's implementation, whose temporaries differ (foreach: a copy the "
                            "size of all parameters; fused: none); auto (default) is torch's default on the "
                            "planned GPU: foreach")
    group.add_argument("--memory-device", choices=["cuda", "cpu"], default=None,
                       help="the device the step is planned for (default cuda): its autocast op lists, the "
                            "optimizer implementation auto picks and the recurrent kernels it runs")
    group.add_argument("--amp", choices=["bf16", "fp16"], default=None,
                       help="forward under torch.autocast with this dtype (the planned device's op lists)")
    group.add_argument("--weights-dtype", choices=["fp32", "bf16", "fp16"], default=None,
                       help="store parameters and buffers in this dtype (e.g. bf16 weights)")
    group.add_argument("--checkpoint", metavar="BLOCK[,BLOCK]", default=None,
                       help="what-if: activation checkpointing on modules of this class name or name pattern "
                            "(e.g. BasicBlock, 'transformer.h.*'): memory saved and recompute FLOPs added")
    group.add_argument("--batch", type=int, default=None, metavar="N",
                       help="resize dimension 0 of every input to N before measuring")
    group.add_argument("--gpu-memory", metavar="SIZE|GPU", default=None,
                       help="fits / does not fit, headroom and the largest batch that fits: 80GiB, 24GB or a "
                            "device name (A100-80GB, H100-80GB, T4, RTX4090, ...)")
    group.add_argument("--shard", metavar="STRATEGY:N", default=None,
                       help="per-rank model states over N ranks: ddp, zero1, zero2, zero3, fsdp, fsdp-hybrid "
                            "(fsdp-hybrid:16:8 = 8 ranks per node), e.g. zero3:8")
    group.add_argument("--context", type=int, default=None, metavar="TOKENS",
                       help="KV cache bytes of a transformers decoder at this context length")


def memory_kwargs(args: argparse.Namespace, budget: Budget) -> dict[str, Any]:
    """``audit()`` keywords; a peak-memory budget or a memory option alone turns the analysis on."""
    wants = any(getattr(args, k) is not None for k in ("checkpoint", "gpu_memory", "shard", "context", "amp",
                                                      "weights_dtype", "batch", "memory_device"))
    wants = wants or args.optimizer_impl != "auto"
    kind = args.memory or ("train" if budget.peak_memory is not None or wants else None)
    if kind is None:
        return {}
    return {"memory": kind, "optimizer": args.optimizer, "optimizer_impl": args.optimizer_impl, "amp": args.amp,
            "batch": args.batch,
            "memory_options": {"checkpoint": args.checkpoint, "gpu_memory": args.gpu_memory, "shard": args.shard,
                               "context": args.context, "weights_dtype": args.weights_dtype,
                               **({"amp_device": args.memory_device} if args.memory_device else {})}}
