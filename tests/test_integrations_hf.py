"""HF Trainer callback with the real transformers + accelerate on a tiny GPT-2.

The run must be bitwise the same with and without the callback (seeded; GPT-2's dropout stays on,
so a consumed random number would show), the logged figures equal independent oracles
(``sum(p.numel())``; PyTorch's FlopCounterMode over the same batch with eager attention, /2), and a
budget breach raises before the first optimizer step.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from model_audit import BudgetExceeded

BATCH, STEPS = 4, 10


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

SEQ, VOCAB = 16, 100


def _gpt2() -> nn.Module:
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=SEQ,
                                     attn_implementation="eager")  # dropout 0.1 stays on: RNG is exercised
    return transformers.GPT2LMHeadModel(config)


def _train_hf(tmp_path: Path, callbacks: list, trainer_ref: bool = False):
    model = _gpt2()
    ids = torch.randint(0, VOCAB, (40, SEQ), generator=torch.Generator().manual_seed(1))
    data = [{"input_ids": row, "labels": row} for row in ids]
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=BATCH,
                                          report_to=[], save_strategy="no", logging_steps=5, use_cpu=True, seed=0,
                                          disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)
    if trainer_ref:
        for callback in callbacks:
            if hasattr(callback, "trainer"):
                callback.trainer = trainer
    trainer.train()
    return model, trainer


def _macs_oracle() -> int:
    model = _gpt2().train()
    ids = torch.zeros(BATCH, SEQ, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, labels=ids)
    return counter.get_total_flops() // 2


@pytest.mark.slow
def test_hf_callback_logs_figures_and_changes_nothing(tmp_path):
    from model_audit.integrations.hf import ModelAuditTrainerCallback

    plain, _ = _train_hf(tmp_path / "plain", [])
    callback = ModelAuditTrainerCallback()
    audited, trainer = _train_hf(tmp_path / "audited", [callback])
    assert _same_weights(plain.state_dict(), audited.state_dict())
    entry = next(e for e in trainer.state.log_history if "model_audit/params" in e)
    assert entry["model_audit/params"] == sum(p.numel() for p in audited.parameters())
    assert entry["model_audit/macs"] == _macs_oracle()
    assert entry["model_audit/findings"] == len(callback.report.findings) and entry["step"] == 0
    assert tuple(callback.report.input_shapes[0]) == (BATCH, SEQ)


class _Recorder(transformers.TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


@pytest.mark.slow
def test_hf_callback_with_trainer_reaches_every_on_log(tmp_path):
    from model_audit.integrations.hf import ModelAuditTrainerCallback

    recorder = _Recorder()  # stands where report_to integrations (TensorBoard, W&B) receive logs
    _, trainer = _train_hf(tmp_path, [ModelAuditTrainerCallback(trainer=None), recorder], trainer_ref=True)
    seen = [logs for logs in recorder.logs if "model_audit/params" in logs]
    assert len(seen) == 1 and seen[0]["model_audit/params"] == sum(p.numel() for p in _gpt2().parameters())
    assert sum("model_audit/params" in e for e in trainer.state.log_history) == 1


def test_hf_budget_breach_raises_with_the_figure(tmp_path):
    from model_audit.integrations.hf import ModelAuditTrainerCallback

    params = sum(p.numel() for p in _gpt2().parameters())
    with pytest.raises(BudgetExceeded, match=rf"params {params:,} \(.*\) exceeds the budget 1,000 "):
        _train_hf(tmp_path, [ModelAuditTrainerCallback(budget={"params": "1K"})])
