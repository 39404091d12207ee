"""Training-loop integrations: audit the model on its first real batch and log the figures.

- ``model_audit.integrations.lightning.ModelAuditCallback`` — a Lightning ``Callback``
  (``pip install 'model-audit[lightning]'``);
- ``model_audit.integrations.hf.ModelAuditTrainerCallback`` — a transformers ``TrainerCallback``
  (``pip install 'model-audit[hf]'``).

Both import their framework only when their module is imported, so this package costs nothing.
"""
