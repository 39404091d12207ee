"""Evidence that gradients get clipped, for ``unclipped-rnn``.

Two sources, both read and never executed:

- ``flow``: a small data-flow analysis over source files — the model file, the training script and
  the modules of the same project they import (``utils.py`` next to them, ``pkg/train_utils.py``):
  import aliases, helpers that clip or clamp ``.grad`` (followed to any depth), trainer
  configurations that clip (Lightning ``gradient_clip_val``, transformers ``Trainer`` whose
  ``max_grad_norm`` defaults to 1.0), gradient hooks that clamp.
- ``runtime``: a ``train_step`` callable (its source, or bytecode names, and the functions it calls)
  and gradient hooks already registered on the model.
"""
from __future__ import annotations

from .flow import evidence_in_file, evidence_in_source
from .runtime import Evidence, evidence_in_callable, evidence_in_hooks

__all__ = ["Evidence", "evidence_in_file", "evidence_in_source", "evidence_in_callable", "evidence_in_hooks"]
