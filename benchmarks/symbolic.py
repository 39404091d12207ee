"""Time of a symbolic audit against one concrete audit of the same model at the base sizes.

    PYTHONPATH=src python benchmarks/symbolic.py [--repeat 3] [MODEL ...]

Both are full ``model_audit.audit`` calls with rules; each figure is the median of ``--repeat`` runs
in one process (each symbolic run fits afresh; meta kernels stay cached across runs, for both).
Prints one row per model: concrete seconds, symbolic seconds, the ratio, and the lean counting runs
the fit needed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cases():
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    import symbolic_models as models
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

    def gpt2():
        with torch.device("meta"):
            return GPT2LMHeadModel(GPT2Config()).eval()  # gpt2 (124M): 12 layers, d=768

    def bert():
        with torch.device("meta"):
            return BertModel(BertConfig()).eval()  # bert-base-uncased's shape

    def llama_1b():
        from transformers import LlamaConfig, LlamaForCausalLM

        # Llama 3.2 1B's shapes: 16 layers, d=2048, GQA with 32 query and 8 key/value heads
        config = LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                             num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True)
        with torch.device("meta"):
            return LlamaForCausalLM(config).eval()

    return {
        "gpt2": (gpt2, "B,L:int64", "B=1,L=128", "1,128:int64"),
        "bert-base": (bert, "B,L:int64", "B=1,L=128", "1,128:int64"),
        "llama-gqa": (models.llama_gqa, "B,L:int64", "B=1,L=128", "1,128:int64"),  # the tests' 2-layer toy
        "llama-1b": (llama_1b, "B,L:int64", "B=1,L=128", "1,128:int64"),
        "vit_b_16": (models.vit_b_16, "B,3,H,W", "B=1,H=W=224%16", "1,3,224,224"),
        "resnet50": (models.resnet50, "B,3,H,W", "B=1,H=W=224%32", "1,3,224,224"),
        "lstm": (models.lstm, "B,T,16", "B=1,T=64", "1,64,16"),
    }


def _median(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from model_audit import audit

    print(f"{'model':<10} {'concrete s':>10} {'symbolic s':>10} {'ratio':>6} {'runs':>5}  FLOPs formula")
    for name, (build, template, dims, concrete) in _cases().items():
        if args.models and name not in args.models:
            continue
        model = build()
        audit(model, input_shape=concrete)  # warm-up: imports, first-call costs
        t_concrete, _ = _median(lambda: audit(model, input_shape=concrete), args.repeat)
        t_symbolic, report = _median(lambda: audit(model, input_shape=template, symbolic=dims), args.repeat)
        costs = report.symbolic
        print(f"{name:<10} {t_concrete:>10.3f} {t_symbolic:>10.3f} {t_symbolic / t_concrete:>6.2f} {costs.runs:>5}  "
              f"{costs.flops}", flush=True)


if __name__ == "__main__":
    main()
