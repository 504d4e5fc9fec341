"""ASHA on the objective: a Ray Tune scheduler that cuts trials at rungs on their rung-slice answer
correctness, by `tunesweep_evidence.rungs.RungLadder` (the rule, pure, which verify replays).

Tune's ASHAScheduler places its own rungs from max_t and grace_period; this one decides exactly at
the steps the trials score at (the plan's `search.rung_steps`), so every decision reads a score
measured at that rung, never a stale or missing one. Each decision is written to
rung_decisions.json as it is taken; a resumed driver goes on from the decisions already there.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import RungDecisions
from tunesweep_evidence.rungs import RungLadder, describe

from ..backend import RUNG_SCORE
from .results import OBJECTIVE, finite_or_nan

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

logger = logging.getLogger(__name__)


class RungScheduler(FIFOScheduler):
    """Tune runs trials first in, first out, and stops the ones the ladder cuts."""

    def __init__(self, root: str, rung_steps: list[int], reduction_factor: int) -> None:
        super().__init__()
        self._decisions_uri = layout.join(root, layout.RUNG_DECISIONS)
        self._rung_steps, self._reduction_factor = rung_steps, reduction_factor
        self._ladder = self._load()

    def _load(self) -> RungLadder:
        if bucket.exists(self._decisions_uri):
            return RungLadder.resumed(bucket.read_document(self._decisions_uri, RungDecisions))
        return RungLadder(self._rung_steps, self._reduction_factor)

    # Tune pickles the scheduler with the experiment when it starts and restores that copy: the
    # decisions taken since are in rung_decisions.json, not in the pickle.
    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "_ladder"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._ladder = self._load()

    def on_trial_result(self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]) -> str:
        # The evaluated end of a trial whose last step is a rung: its score counts, it is not cut.
        finished = math.isfinite(finite_or_nan(result.get(OBJECTIVE)))
        step, score = int(result["step"]), finite_or_nan(result.get(RUNG_SCORE))
        decision = self._ladder.record(trial.trial_id, step, score, finished=finished)
        if decision is None:
            return TrialScheduler.CONTINUE
        bucket.write_document(self._decisions_uri, self._ladder.document())
        logger.info("trial %s %s", trial.trial_id, describe(decision))
        return TrialScheduler.STOP if decision.cut else TrialScheduler.CONTINUE
