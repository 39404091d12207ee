"""transformers models built from small configs (no downloads): exact params, MACs against FlopCounterMode.

Oracles:
- params: ``sum(p.numel() for p in model.parameters())`` (tied tensors, e.g. GPT-2's lm_head/wte,
  appear once there too);
- MACs: PyTorch's FlopCounterMode over a real CPU forward in train mode (no inference fast path can
  hide work; dropout is 0 in the configs so train mode changes no shapes), divided by 2.

The FlopCounterMode oracle runs with ``attn_implementation="eager"``: with "sdpa" (transformers'
default) the CPU forward lowers to ``aten._scaled_dot_product_flash_attention_for_cpu``, which
FlopCounterMode has no formula for and counts as zero, so it is not a valid oracle there. The sdpa
path is checked instead by requiring that model-audit gives the same MACs for "sdpa" as for "eager".
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

transformers = pytest.importorskip("transformers")

from model_audit import audit  # noqa: E402

VOCAB = 1000
BATCH, SEQ, DEC_SEQ = 2, 16, 8


def build(kind: str, attn: str = "eager") -> nn.Module:
    torch.manual_seed(0)
    T = transformers
    if kind == "gpt2":
        config = T.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=VOCAB, n_positions=64,
                              resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                              bos_token_id=0, eos_token_id=0, attn_implementation=attn)
        return T.GPT2LMHeadModel(config)
    if kind == "bert":
        config = T.BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                              vocab_size=VOCAB, max_position_embeddings=64, hidden_dropout_prob=0.0,
                              attention_probs_dropout_prob=0.0, attn_implementation=attn)
        return T.BertModel(config)
    if kind == "llama":
        # grouped-query attention (2 KV heads for 4 query heads) exercises repeat_kv
        config = T.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                               intermediate_size=128, vocab_size=VOCAB, max_position_embeddings=64,
                               attention_dropout=0.0, bos_token_id=0, eos_token_id=0, attn_implementation=attn)
        return T.LlamaForCausalLM(config)
    if kind == "t5":
        config = T.T5Config(num_layers=2, num_decoder_layers=2, d_model=64, d_kv=16, num_heads=4, d_ff=128,
                            vocab_size=VOCAB, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
                            eos_token_id=1, attn_implementation=attn)
        return T.T5ForConditionalGeneration(config)
    raise ValueError(kind)


def example(kind: str) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    inputs = {"input_ids": torch.randint(0, VOCAB, (BATCH, SEQ), generator=gen)}
    if kind == "t5":
        inputs["decoder_input_ids"] = torch.randint(0, VOCAB, (BATCH, DEC_SEQ), generator=gen)
    return inputs


def flop_counter_macs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> float:
    was_training = model.training
    model.train()
    try:
        with FlopCounterMode(display=False) as counter:
            model(**inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2


def unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def snapshot(model: nn.Module) -> dict:
    """Everything an audit must leave as it found it."""
    hook_dicts = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                  "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
                  "_state_dict_hooks", "_load_state_dict_pre_hooks")
    return {
        "training": [(name, m.training) for name, m in model.named_modules()],
        "params": [(name, id(p), p.device, p.dtype, p.requires_grad, p.grad) for name, p in model.named_parameters()],
        "buffers": [(name, id(b), b.device) for name, b in model.named_buffers()],
        "hooks": [(name, d, len(getattr(m, d, {}) or {})) for name, m in model.named_modules() for d in hook_dicts],
        "global_hooks": (len(nn.modules.module._global_forward_hooks),
                         len(nn.modules.module._global_forward_pre_hooks)),
    }


KINDS = ["gpt2", "bert", "llama", "t5"]


@pytest.fixture(scope="module")
def eager_models() -> dict[str, nn.Module]:
    return {kind: build(kind, "eager") for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_params_exact(kind, eager_models):
    model = eager_models[kind]
    report = audit(model, example(kind))
    assert report.params == unique_params(model)
    assert report.uncounted_ops == {}


@pytest.mark.parametrize("kind", KINDS)
def test_macs_match_flop_counter_train_mode(kind, eager_models):
    model = eager_models[kind]
    inputs = example(kind)
    report = audit(model, inputs)
    reference = flop_counter_macs(model, inputs)
    assert reference > 0
    assert report.macs == pytest.approx(reference, rel=0.01)
    assert report.uncounted_ops == {}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_sdpa_equals_eager(kind, device):
    """The fused attention kernels (meta: math decomposition; cpu: flash-for-cpu) count like eager."""
    inputs = example(kind)
    eager = audit(build(kind, "eager"), inputs, device=device)
    sdpa_model = build(kind, "sdpa")
    assert sdpa_model.config._attn_implementation == "sdpa"
    sdpa = audit(sdpa_model, inputs, device=device)
    assert sdpa.macs == eager.macs
    assert sdpa.params == eager.params
    assert sdpa.uncounted_ops == {}


def test_bert_sdpa_equals_eager_and_flop_counter():
    inputs = example("bert")
    eager_model = build("bert", "eager")
    sdpa = audit(build("bert", "sdpa"), inputs)
    assert sdpa.macs == audit(eager_model, inputs).macs
    assert sdpa.macs == pytest.approx(flop_counter_macs(eager_model, inputs), rel=0.01)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_audit_leaves_model_unchanged(kind, mode):
    model = build(kind, "sdpa")
    model.eval()
    next(model.children()).train()  # mixed per-module flags must survive too
    before = snapshot(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = example(kind)
    with torch.no_grad():
        expected = model(**inputs)[0]
    first = audit(model, inputs, mode=mode)
    second = audit(model, inputs, mode=mode, device="cpu")
    assert snapshot(model) == before
    assert first.macs == second.macs
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    with torch.no_grad():
        assert torch.equal(model(**inputs)[0], expected)


def test_hook_tracer_used_and_says_why(eager_models):
    # transformers models defeat torch.fx; the report must say which tracer ran, and why
    report = audit(eager_models["llama"], example("llama"))
    assert report.tracer in ("fx", "hooks")
    if report.tracer == "hooks":
        assert any("torch.fx" in note for note in report.notes)


# --------------------------------------------------------------------------- LLaMA-7B on the meta device

LLAMA7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, vocab_size=32000)


def llama7b_closed_form(tokens: int) -> tuple[int, int]:
    """Params and forward MACs of LLaMA-7B for one sequence of ``tokens`` tokens.

    h = 4096, i = 11008, L = 32, V = 32000, T = tokens (no tied embeddings, RMSNorm weights only):
      params = 2·V·h (embed_tokens, lm_head) + L·(4·h² + 3·h·i + 2·h) + h       = 6,738,415,616
    MACs, per layer and token: q/k/v/o projections 4·h², gate/up/down 3·h·i; per layer and
    sequence: QKᵀ h·T² and AV h·T² (all heads together; the causal mask does not skip work);
    plus the lm_head T·h·V:
      MACs = L·T·(4·h² + 3·h·i) + L·2·h·T² + T·h·V
           = 828,928,688,128 + 4,294,967,296 + 16,777,216,000 = 850,000,871,424   (T = 128)
    """
    h, i, L, V, T = 4096, 11008, 32, 32000, tokens
    params = 2 * V * h + L * (4 * h * h + 3 * h * i + 2 * h) + h
    macs = L * T * (4 * h * h + 3 * h * i) + L * 2 * h * T * T + T * h * V
    return params, macs


def test_llama7b_on_meta_device():
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**LLAMA7B))
    report = audit(model, {"input_ids": torch.zeros(1, 128, dtype=torch.long)})
    params, macs = llama7b_closed_form(128)
    assert params == 6_738_415_616
    assert macs == 850_000_871_424
    assert report.params == params
    assert report.macs == macs  # 850.0 GMACs
    assert round(report.macs / 1e9, 1) == 850.0
    assert report.device == "meta"
    assert report.uncounted_ops == {}
    assert all(p.device.type == "meta" for p in model.parameters())
