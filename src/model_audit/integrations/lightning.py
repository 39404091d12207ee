"""Lightning: ``trainer = Trainer(callbacks=[ModelAuditCallback(budget={"params": "25M"})])``.

At the first training batch the LightningModule (or the submodule named by ``module``) is audited on
meta copies of the arguments its ``forward`` receives; params, MACs, FLOPs and the findings count go
to every logger of the trainer (``log_metrics`` at step 0, under ``model_audit/``), the summary line
to Lightning's log, and the report stays on ``callback.report``. A budget breach raises
``model_audit.BudgetExceeded`` before the first optimizer step. Works with ``lightning`` or, when
only that is installed, ``pytorch_lightning``.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping

from ..report.audit_report import AuditReport
from ..report.budget import Budget
from .first_call import FirstCallAudit, as_budget, figures, summary_line

try:
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover - exercised only where the old package name is installed
    try:
        from pytorch_lightning import Callback
    except ImportError:
        raise ImportError("model_audit.integrations.lightning needs Lightning: "
                          "pip install 'model-audit[lightning]'") from None

log = logging.getLogger("model_audit")


class ModelAuditCallback(Callback):
    """Audit the model on its first real training batch and log the figures; optionally enforce a budget.

    ``budget``: a ``model_audit.Budget`` or a mapping such as ``{"params": "25M", "flops": "8G",
    "findings": "error"}``. ``module``: dotted name of the submodule to audit when ``training_step``
    calls it rather than the LightningModule's own ``forward`` (e.g. ``"model"``). Other keywords go
    to ``model_audit.audit`` (``mode``, ``select``, ``ignore``, ``rules``, ``config``, ...).
    """

    def __init__(self, budget: Budget | Mapping[str, Any] | None = None, *, module: str | None = None,
                 **audit_options: Any) -> None:
        self.module = module
        self._audit = FirstCallAudit(audit_options, as_budget(budget), self._log)
        self._trainer: Any = None

    @property
    def report(self) -> AuditReport | None:
        """The audit of the first training batch (None until it ran)."""
        return self._audit.report

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if self._audit.report is not None:
            return  # audited once per callback, not again on a resumed or repeated fit
        self._trainer = trainer
        target = pl_module.get_submodule(self.module) if self.module else pl_module
        self._audit.attach(target)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._audit.waiting:
            self._audit.detach()
            where = f"{type(pl_module).__name__}.{self.module}" if self.module else f"{type(pl_module).__name__}.forward"
            warnings.warn(f"ModelAuditCallback: {where} was not called in the first training step, so nothing was "
                          f"audited; pass module='NAME' for the submodule training_step calls", stacklevel=2)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._audit.detach()

    def _log(self, report: AuditReport) -> None:
        trainer = self._trainer
        values = figures(report)
        for logger in getattr(trainer, "loggers", None) or []:
            logger.log_metrics(values, step=trainer.global_step)
        if getattr(trainer, "is_global_zero", True):
            log.info(summary_line(report))
