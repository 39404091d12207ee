"""Models the memory oracle tests and ``benchmarks/memory.py`` share: (name, builder, args, kwargs)."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


class LSTMTagger(nn.Module):
    """Embedding -> 2-layer bidirectional LSTM -> per-token tag scores."""

    def __init__(self, vocab: int = 5000, embed: int = 128, hidden: int = 256, tags: int = 20) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, tags)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return F.log_softmax(self.head(out), dim=-1)


class _Double(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A 3-level U-Net (Ronneberger et al.) with skip concatenations and transposed-conv upsampling."""

    def __init__(self, cin: int = 3, classes: int = 2, width: int = 32) -> None:
        super().__init__()
        w = width
        self.down1, self.down2, self.down3 = _Double(cin, w), _Double(w, 2 * w), _Double(2 * w, 4 * w)
        self.bottom = _Double(4 * w, 8 * w)
        self.up3, self.dec3 = nn.ConvTranspose2d(8 * w, 4 * w, 2, stride=2), _Double(8 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _Double(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), _Double(2 * w, w)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        d3 = self.down3(F.max_pool2d(d2, 2))
        b = self.bottom(F.max_pool2d(d3, 2))
        u3 = self.dec3(torch.cat([self.up3(b), d3], 1))
        u2 = self.dec2(torch.cat([self.up2(u3), d2], 1))
        u1 = self.dec1(torch.cat([self.up1(u2), d1], 1))
        return self.head(u1)


def gpt2(layers: int = 12) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=layers, use_cache=False, attn_implementation="eager")
    return GPT2LMHeadModel(config)


def bert(layers: int = 12) -> nn.Module:
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(num_hidden_layers=layers, attn_implementation="eager"))


def tokens(batch: int, length: int, vocab: int) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0))


def _tv(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)()
    return build


# name -> (builder, args factory, kwargs factory)
MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], tuple], Callable[[], dict]]] = {
    "resnet18": (_tv("resnet18"), lambda: (torch.randn(8, 3, 224, 224),), dict),
    "resnet50": (_tv("resnet50"), lambda: (torch.randn(8, 3, 224, 224),), dict),
    "vit_b_16": (_tv("vit_b_16"), lambda: (torch.randn(4, 3, 224, 224),), dict),
    # an attention mask keeps transformers from reading position ids' values (packed-sequence check)
    "gpt2": (gpt2, lambda: (tokens(4, 256, 50257),), lambda: {"attention_mask": torch.ones(4, 256, dtype=torch.long)}),
    "bert": (bert, lambda: (tokens(4, 256, 30522),), dict),
    "lstm_tagger": (LSTMTagger, lambda: (tokens(16, 128, 5000),), dict),
    "unet": (UNet, lambda: (torch.randn(4, 3, 128, 128),), dict),
}


def build(name: str, seed: int = 0) -> tuple[nn.Module, tuple, dict[str, Any]]:
    torch.manual_seed(seed)
    builder, args, kwargs = MODELS[name]
    model = builder()
    model.train()
    return model, args(), kwargs()
