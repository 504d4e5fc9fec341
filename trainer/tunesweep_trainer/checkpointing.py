"""A trial's checkpoints as its backend sees them: where to resume from, when to save, and the save.

The trial (`run_trial`) makes one `TrialState` per start. `resumed` is the checkpoint it goes on
from: the newest complete one of its current segment in its own evidence folder (a restarted or
resumed trial); under PBT, the checkpoint of another trial it exploits (`Donor`), which starts a new
segment; or, for a segment that has saved nothing of its own yet, that segment's source again.
`restore()` copies it to a local folder for the backend to load. The backend says how to write its
state (`writes`); the trial saves at each of `save_steps`, after that step's progress is recorded and
before it is reported, so metrics.jsonl always reaches the newest checkpoint's step, and a report
that offers a checkpoint to the sweep (PBT) offers one that is complete.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesweep_evidence import layout, trial_checkpoints
from tunesweep_evidence.documents import CheckpointRecord, LineageSource, Segment


@dataclass(frozen=True)
class CheckpointPolicy:
    """spec.trials.checkpoints: keep the newest `keep` (0: none), at report steps that are
    multiples of `every_steps` (None: every report step), and never remove those at `pinned` steps
    (PBT's perturbation steps, which other trials may go on from)."""

    keep: int = 0
    every_steps: int | None = None
    pinned: frozenset[int] = frozenset()


NO_CHECKPOINTS = CheckpointPolicy()
SAVING = threading.Lock()
"""Held while a checkpoint is written, pruned and listed in the trial's manifest: the trial's timeout
watchdog takes it before it settles the manifest, so that nothing is pruned after that is listed."""


@dataclass(frozen=True)
class Donor:
    """PBT's exploit: the trial goes on from the checkpoint at `folder` of trial `trial_id` (of the
    same sweep), with new params."""

    trial_id: str
    folder: str


@dataclass(frozen=True)
class SavedState:
    """What a backend wrote for a step: the local folder, and where its data order stands."""

    folder: Path
    data_position: int
    rng: dict[str, Any]


class TrialState:
    def __init__(
        self,
        trial_uri: str,
        policy: CheckpointPolicy,
        report_steps: Collection[int],
        segments: list[Segment],
        donor: Donor | None = None,
    ) -> None:
        """`segments`: those the trial's earlier starts recorded (PBT), if any."""
        self.trial_uri = trial_uri
        self.policy = policy
        # PBT's perturbation steps save whatever every_steps says: other trials may go on from them
        offered = policy.pinned & set(report_steps)
        saved = trial_checkpoints.save_steps(report_steps, policy.every_steps) | offered
        self.save_steps = saved if policy.keep else frozenset()
        self.segment = max(len(segments) - 1, 0)
        self.new_segment_source: LineageSource | None = None
        current = segments[-1].source if segments else None
        self.resumed: CheckpointRecord | None
        if donor is not None and not _same(donor, current):
            self.segment = len(segments) if segments else 1
            self.resumed, self._resumed_uri = self._read(donor.trial_id, donor.folder)
            self.new_segment_source = LineageSource(
                trial_id=donor.trial_id,
                step=self.resumed.step,
                folder=donor.folder,
                record_sha256=trial_checkpoints.record_sha256(self._resumed_uri, donor.folder),
            )
        else:
            own = trial_checkpoints.latest(trial_uri, self.segment) if policy.keep else None
            if own is None and current is not None:
                self.resumed, self._resumed_uri = self._read(current.trial_id, current.folder)
            else:
                self.resumed, self._resumed_uri = own, trial_uri
        self._local = Path(tempfile.mkdtemp(prefix="tunesweep-trial-state-"))
        self._write: Callable[[int], SavedState] | None = None
        self.elapsed_s: Callable[[], float] = lambda: 0.0
        self.on_saved: Callable[[list[CheckpointRecord]], None] = lambda kept: None
        self.owned: Callable[[], object] = lambda: None
        """Raises when a newer start of the trial owns its folder (`recorder.TrialRecorder.owned`)."""

    def _sibling(self, trial_id: str) -> str:
        return layout.join(layout.parent(self.trial_uri), trial_id)

    def _read(self, trial_id: str, folder: str) -> tuple[CheckpointRecord, str]:
        uri = self._sibling(trial_id)
        return trial_checkpoints.read(uri, folder), uri

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
        return trial_checkpoints.fetch(self._resumed_uri, self.resumed, local)

    def scratch(self, name: str) -> Path:
        """A local folder of this trial's, for a backend's own state files."""
        folder = self._local / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def writes(self, write: Callable[[int], SavedState]) -> None:
        """How the backend writes its state at a save step (called after that step's updates)."""
        self._write = write

    def save_if_due(self, step: int) -> CheckpointRecord | None:
        """Save the backend's state of `step` if it is a save step; the checkpoint, or None."""
        if self._write is None or step not in self.save_steps or step <= self.resumed_step:
            return None
        self.owned()  # a newer start of this trial prunes and saves there now
        state = self._write(step)
        with SAVING:
            record, kept = trial_checkpoints.write(
                self.trial_uri,
                step,
                state.folder,
                data_position=state.data_position,
                elapsed_s=self.elapsed_s(),
                keep=self.policy.keep,
                rng=state.rng,
                segment=self.segment,
                pinned=self.policy.pinned,
            )
            self.on_saved(kept)
        return record


def _same(donor: Donor, source: LineageSource | None) -> bool:
    """The donor is the current segment's own source: Tune restores the checkpoint it was last
    given, which after an exploit is the donor's until the trial saves one of its own."""
    return source is not None and (donor.trial_id, donor.folder) == (source.trial_id, source.folder)
