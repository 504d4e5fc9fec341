"""What a backend gives a trial: evaluation rows to score, and progress while it trains; and
which backends there are (`load_backend`).

At each rung step (`rung_steps`, from the sweep's plan) a backend scores the rung slice of the
eval data on the model as it is after that many updates, and adds it to that step's progress as
`rung_score` (with `rung_eval_s`, what the evaluation took, where it is measured); every rung step
is also a report step.

The built-in backends (`flax-lm`, `mock`) are modules; a custom one (`python`, `command`) is made
for the program the sweep names (`Program`) by its module's `backend(program, checkpoint_dir)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tunesweep_evidence.documents import AcceleratorInfo, BaseModelUse, EvalRow, JudgeInfo
from tunesweep_evidence.training_config import CUSTOM_BACKENDS, CustomTraining, TrainingSection

from .checkpointing import TrialState

ProgressFn = Callable[[int, Mapping[str, float]], None]
"""Called with (step, metrics such as loss and learning_rate) at each report step and at the last step."""


RUNG_SCORE = "rung_score"


@dataclass(frozen=True)
class BackendResult:
    rows: list[EvalRow]
    """The eval set's judged rows: the primary score."""
    test_rows: list[EvalRow]
    """The test slice's judged rows: reported, never used for a decision."""
    judge: JudgeInfo
    steps_done: int
    base_model: BaseModelUse | None = None
    """Where the base model came from; None for a backend without one."""


def is_report_step(
    step: int, training: TrainingSection | CustomTraining, rung_steps: Collection[int] = ()
) -> bool:
    return step % training.report_every_steps == 0 or step == training.max_steps or step in rung_steps


BACKEND_MODULES: dict[str, str] = {
    "flax-lm": "tunesweep_trainer.flax_lm.backend",
    "mock": "tunesweep_trainer.mock",
    "python": "tunesweep_trainer.custom.python_backend",
    "command": "tunesweep_trainer.custom.command_backend",
}


@dataclass(frozen=True)
class Program:
    """The user's trainer a custom backend runs (spec.trainer): `entrypoint` for python, `command`
    for command."""

    entrypoint: str | None = None
    command: tuple[str, ...] = ()


class Backend(Protocol):
    def prepare(self) -> AcceleratorInfo: ...
    def run(
        self, config: Any, on_progress: ProgressFn, rung_steps: Collection[int], state: TrialState
    ) -> BackendResult:
        """Train `config` (an instance of the backend's `config_model`) and evaluate it, going on from
        `state.resumed` when there is one and saving at `state.save_steps` (`checkpointing`)."""
        ...


def load_backend(name: str, program: Program, checkpoint_dir: Path) -> Backend:
    """The backend `name`; a custom one runs `program` and offers it `checkpoint_dir` (its trial's)."""
    if name not in BACKEND_MODULES:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(BACKEND_MODULES)}")
    module: Any = importlib.import_module(BACKEND_MODULES[name])
    backend: Backend = module.backend(program, checkpoint_dir) if name in CUSTOM_BACKENDS else module
    return backend
