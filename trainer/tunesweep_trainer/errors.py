"""How a trial ends other than by succeeding."""

from __future__ import annotations


class TrialFailed(RuntimeError):
    """The trial cannot produce a trustworthy result (e.g. its loss became NaN); its manifest says failed."""


class InvalidConfig(TrialFailed, ValueError):
    """The training config does not validate; the message names each bad field by its dotted path."""


class TrialStopped(Exception):
    """Raised by a `report` callback to stop the trial early (e.g. ASHA cut it): the manifest says
    early_stopped and the exception propagates to the caller."""


class TrialSuperseded(TrialStopped):
    """A newer start of the same trial owns its evidence folder (its run_manifest.json names another
    run): this one stops without writing anything more. A Pod being deleted (a Kueue preemption)
    keeps training through its grace period while the re-admitted sweep may start the trial anew."""
