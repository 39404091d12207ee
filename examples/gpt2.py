"""GPT-2 (124M) built on the meta device from its config: no weights are downloaded or allocated.

    model-audit examples/gpt2.py --input B,L:int64 --symbolic B=1,L=128
"""
import torch
from transformers import GPT2Config, GPT2LMHeadModel

with torch.device("meta"):
    model = GPT2LMHeadModel(GPT2Config()).eval()

input_shape = "1,128:int64"  # token ids
