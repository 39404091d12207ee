"""Models of the symbolic acceptance tests: tiny-to-moderate configs built on the meta device."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=512, n_positions=256)).eval()


def bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                        vocab_size=512, max_position_embeddings=256)
    with torch.device("meta"):
        return BertModel(config).eval()


def llama_gqa() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=8,
                         num_key_value_heads=2, vocab_size=512, max_position_embeddings=512)
    with torch.device("meta"):
        return LlamaForCausalLM(config).eval()


class DynamicViT(nn.Module):
    """torchvision's vit_b_16 at any H=W=16k: the 14x14 position embedding is resized to the grid
    (bilinear, as timm's dynamic_img_size does); every other weight and layer is vit_b_16's own."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import vit_b_16

        with torch.device("meta"):
            self.vit = vit_b_16()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.vit
        x = vit.conv_proj(x)
        h, w = x.shape[-2], x.shape[-1]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([vit.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        pos = vit.encoder.pos_embedding
        grid = pos[:, 1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
        x = x + torch.cat([pos[:, :1], grid], dim=1)
        x = vit.encoder.ln(vit.encoder.layers(vit.encoder.dropout(x)))
        return vit.heads(x[:, 0])


def vit_b_16() -> nn.Module:
    return DynamicViT().eval()


def resnet50() -> nn.Module:
    from torchvision.models import resnet50 as build

    with torch.device("meta"):
        return build().eval()


class LSTMTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0])


def lstm() -> nn.Module:
    return LSTMTagger().eval()


class SumOfDims(nn.Module):
    """An op whose size is B + L (one row's L values after one column's B values): not a product of
    per-dimension polynomials, so the sizes method must give way to the direct fit."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)  # [B, L, 4]
        return torch.cat([y[:, 0], y[0]]) * 2  # [B + L, 4]


class FlatGrid(nn.Module):
    """One dimension whose sizes are quadratic in it (H·W with W = H): the sizes method measures a
    third size along H, and must still verify away from every measured one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) * 2  # [1, H*W]


class RowAboveOne(nn.Module):
    """A free op (``cat``, a row of its own outside any module) only when the batch exceeds 1: the
    layers change with the size, which no formula fitted at B = 1 may hide."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj(x)
        if y.shape[0] > 1:
            y = torch.cat([y[:1], y[1:]])
        return y
