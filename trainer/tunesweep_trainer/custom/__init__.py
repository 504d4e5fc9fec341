"""Bring your own trainer: `backend: python` (a function) and `backend: command` (a program).

Both are thin adapters over the same seam as the built-in backends (`..backend.BackendResult`):
tunesweep deals the examples (`examples.TrialExamples`), checks and records the reports
(`reports.ReportChecks`), and judges the answers the trainer gives; the primary score is
computed here, never taken from the trainer.
"""

from .context import TrialContext
from .examples import Prompt

__all__ = ["Prompt", "TrialContext"]
