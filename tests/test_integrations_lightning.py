"""Lightning callback, with the real package on a tiny model.

The training run must be bitwise the same with and without the callback (seeded; the model has
Dropout and BatchNorm, so a consumed random number or a touched running statistic would show), the
logged figures equal independent oracles (``sum(p.numel())`` and the closed form of a linear stack),
and a budget breach stops training before the first optimizer step.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from model_audit import BudgetExceeded

BATCH, STEPS = 4, 10


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- Lightning ------------------------------------------------------------------------------------

pl = pytest.importorskip("lightning.pytorch")


class TinyLightning(pl.LightningModule):
    def __init__(self, direct: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
        self.direct = direct  # training_step calls self.net, not self.forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x) if self.direct else self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit_lightning(tmp_path: Path, callbacks: list, steps: int = STEPS, direct: bool = False, model=None):
    from lightning.pytorch.loggers import CSVLogger

    pl.seed_everything(0)
    model = TinyLightning(direct) if model is None else model
    data = torch.utils.data.TensorDataset(torch.randn(64, 8), torch.randint(0, 2, (64,)))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True)
    logger = CSVLogger(str(tmp_path), name="logs")
    trainer = pl.Trainer(max_steps=steps, callbacks=callbacks, logger=logger, accelerator="cpu",
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, loader)
    return model, logger


# {"device": "cpu", "mode": "train"} runs the audit for real with Dropout active: it draws random
# numbers, which the callback must take from a forked generator, not the training run's.
@pytest.mark.parametrize("options", [{}, {"device": "cpu", "mode": "train"}], ids=["meta", "cpu-train"])
def test_lightning_callback_logs_figures_and_changes_nothing(tmp_path, options):
    from model_audit.integrations.lightning import ModelAuditCallback

    plain, _ = _fit_lightning(tmp_path / "plain", [])
    callback = ModelAuditCallback(**options)
    audited, logger = _fit_lightning(tmp_path / "audited", [callback])
    assert _same_weights(plain.state_dict(), audited.state_dict())  # parameters and BN running stats
    with open(Path(logger.log_dir) / "metrics.csv") as handle:
        row = next(r for r in csv.DictReader(handle) if r.get("model_audit/params"))
    params = sum(p.numel() for p in audited.parameters())
    assert float(row["model_audit/params"]) == params == 8 * 16 + 16 + 2 * 16 + 16 * 2 + 2
    assert float(row["model_audit/macs"]) == BATCH * (8 * 16 + 16 * 2)  # the real batch: [4, 8]
    assert float(row["model_audit/findings"]) == len(callback.report.findings)
    assert int(row["step"]) == 0
    assert [list(s) for s in callback.report.input_shapes] == [[BATCH, 8]]


def test_lightning_budget_breach_stops_before_the_first_step(tmp_path):
    from model_audit.integrations.lightning import ModelAuditCallback

    model = TinyLightning()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(BudgetExceeded, match=r"params 210 exceeds the budget 100 by 110"):
        _fit_lightning(tmp_path, [ModelAuditCallback(budget={"params": 100})], model=model)
    assert _same_weights(initial, model.state_dict())  # no optimizer step, no BN update


def test_lightning_submodule_and_missed_forward(tmp_path):
    from model_audit.integrations.lightning import ModelAuditCallback

    on_net = ModelAuditCallback(module="net")
    _fit_lightning(tmp_path / "net", [on_net], steps=1, direct=True)
    assert on_net.report is not None and on_net.report.macs == BATCH * (8 * 16 + 16 * 2)
    missed = ModelAuditCallback()
    with pytest.warns(UserWarning, match="was not called in the first training step"):
        _fit_lightning(tmp_path / "missed", [missed], steps=1, direct=True)
    assert missed.report is None


def test_pytorch_lightning_trainer_accepts_the_callback(tmp_path):
    """Projects on the older package name: its Trainer runs the same callback."""
    old = pytest.importorskip("pytorch_lightning")
    from model_audit.integrations.lightning import ModelAuditCallback

    class Old(old.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(8, 2)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            return self(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 8)), batch_size=BATCH)
    callback = ModelAuditCallback()
    old.Trainer(max_steps=1, callbacks=[callback], logger=False, enable_progress_bar=False, enable_checkpointing=False,
                default_root_dir=str(tmp_path), accelerator="cpu").fit(Old(), loader)
    assert callback.report.params == 8 * 2 + 2 and callback.report.macs == BATCH * 8 * 2
