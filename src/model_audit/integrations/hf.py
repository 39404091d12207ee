"""Hugging Face: ``Trainer(..., callbacks=[ModelAuditTrainerCallback(budget={"params": "125M"})])``.

At the first training batch the model is audited on meta copies of the keyword arguments the
Trainer passes to ``forward`` (``input_ids``, ``attention_mask``, ``labels``, ...). The figures
(params, MACs, FLOPs, findings count, under ``model_audit/``) are appended to
``state.log_history`` — what ``trainer.state.log_history`` shows and ``trainer_state.json``
keeps. Give the trainer (``ModelAuditTrainerCallback(trainer=trainer)``, the pattern of
transformers' own reporting callbacks) and they go through ``trainer.log`` instead, which also
reaches every ``report_to`` integration (TensorBoard, W&B, MLflow, ...). A budget breach raises
``model_audit.BudgetExceeded`` before the first optimizer step.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from ..report.audit_report import AuditReport
from ..report.budget import Budget
from .first_call import FirstCallAudit, as_budget, figures, summary_line

try:
    from transformers import TrainerCallback
except ImportError:
    raise ImportError("model_audit.integrations.hf needs transformers: pip install 'model-audit[hf]'") from None

log = logging.getLogger("model_audit")


class ModelAuditTrainerCallback(TrainerCallback):
    """Audit the model on its first real training batch and log the figures; optionally enforce a budget.

    ``budget``: a ``model_audit.Budget`` or a mapping such as ``{"params": "125M", "findings": "error"}``.
    ``trainer``: optional; when given, figures are logged with ``trainer.log`` (all ``report_to``
    loggers). Other keywords go to ``model_audit.audit`` (``mode``, ``select``, ``ignore``, ``rules``, ...).
    """

    def __init__(self, budget: Budget | Mapping[str, Any] | None = None, *, trainer: Any = None,
                 **audit_options: Any) -> None:
        self.trainer = trainer
        self._audit = FirstCallAudit(audit_options, as_budget(budget), self._log)
        self._state: Any = None

    @property
    def report(self) -> AuditReport | None:
        """The audit of the first training batch (None until it ran)."""
        return self._audit.report

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self._audit.report is not None or model is None:
            return
        self._state = state
        self._audit.attach(model)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._audit.detach()  # a forward that never came (custom compute_loss) is not waited for

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._audit.detach()

    def _log(self, report: AuditReport) -> None:
        values = figures(report)
        if self.trainer is not None:
            self.trainer.log(dict(values))  # appends to log_history and calls every on_log
        elif self._state is not None:
            self._state.log_history.append({**values, "step": self._state.global_step})
        if self._state is None or self._state.is_world_process_zero:
            log.info(summary_line(report))
