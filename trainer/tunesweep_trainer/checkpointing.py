"""A trial's checkpoints as its backend sees them: where to resume from, when to save, and the save.

The trial (`run_trial`) makes one `TrialState` per start: `resumed` is the newest complete
checkpoint in the trial's evidence folder (a restarted or resumed trial), `restore()` copies it to
a local folder for the backend to load. At each of `save_steps` the backend writes its state into a
local folder and hands it to `save`, which uploads it (`tunesweep_evidence.trial_checkpoints`),
keeps the newest `policy.keep` and tells the trial's manifest. The backend saves after that step's
progress is recorded, so metrics.jsonl always reaches the newest checkpoint's step.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesweep_evidence import trial_checkpoints
from tunesweep_evidence.documents import CheckpointRecord


@dataclass(frozen=True)
class CheckpointPolicy:
    """spec.trials.checkpoints: keep the newest `keep` (0: none), at report steps that are
    multiples of `every_steps` (None: every report step)."""

    keep: int = 0
    every_steps: int | None = None


NO_CHECKPOINTS = CheckpointPolicy()


class TrialState:
    def __init__(
        self,
        trial_uri: str,
        policy: CheckpointPolicy,
        report_steps: Collection[int],
        elapsed_s: Callable[[], float],
        on_saved: Callable[[list[CheckpointRecord]], None],
    ) -> None:
        self.trial_uri = trial_uri
        self.policy = policy
        self.save_steps = (
            trial_checkpoints.save_steps(report_steps, policy.every_steps) if policy.keep else frozenset()
        )
        self._elapsed_s = elapsed_s
        self._on_saved = on_saved
        self.resumed = trial_checkpoints.latest(trial_uri) if policy.keep else None
        self._kept = [] if self.resumed is None else [self.resumed]
        self._local = Path(tempfile.mkdtemp(prefix="tunesweep-trial-state-"))

    @property
    def resumed_step(self) -> int:
        """The step the trial goes on from: 0 for a fresh start."""
        return 0 if self.resumed is None else self.resumed.step

    @property
    def resumed_elapsed_s(self) -> float:
        return 0.0 if self.resumed is None else self.resumed.elapsed_s

    def restore(self, local: Path) -> Path | None:
        """The resumed checkpoint's files copied into `local` (checked against their digests), or
        None for a fresh start."""
        if self.resumed is None:
            return None
        return trial_checkpoints.fetch(self.trial_uri, self.resumed, local)

    def scratch(self, name: str) -> Path:
        """A local folder of this trial's, for a backend's own state files."""
        folder = self._local / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def due(self, step: int) -> bool:
        return step in self.save_steps and step > self.resumed_step

    def save(self, step: int, state: Path, data_position: int, rng: dict[str, Any] | None = None) -> None:
        """Upload `state` (a local folder) as the checkpoint of `step`."""
        record = trial_checkpoints.write(
            self.trial_uri,
            step,
            state,
            data_position=data_position,
            elapsed_s=self._elapsed_s(),
            keep=self.policy.keep,
            rng=rng,
        )
        self._kept = [*self._kept, record][-self.policy.keep :]
        self._on_saved(self._kept)
