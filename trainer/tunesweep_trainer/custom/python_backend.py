"""`backend: python`: the trial calls `trainer.entrypoint` (`module.path:function`) with its config
(a dict: the base config with the trial's params folded in, tunesweep's defaults filled in) and a
`TrialContext`; the function returns its answers to `context.answer_prompts`, by id."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesweep_evidence.documents import AcceleratorInfo
from tunesweep_evidence.training_config import CustomConfig

from .. import environment
from ..backend import BackendResult, Program, ProgressFn
from ..checkpointing import TrialState
from ..errors import TrialFailed
from . import checkpoints
from .context import TrialContext
from .examples import TrialExamples
from .reports import ReportChecks, answers


def backend(program: Program, checkpoint_dir: Path) -> PythonBackend:
    if program.entrypoint is None:
        raise ValueError("backend python needs trainer.entrypoint (`module.path:function`)")
    return PythonBackend(program.entrypoint, checkpoint_dir)


@dataclass(frozen=True)
class PythonBackend:
    entrypoint: str
    checkpoint_dir: Path

    def prepare(self) -> AcceleratorInfo:
        return environment.jax_accelerator()

    def run(
        self, config: CustomConfig, on_progress: ProgressFn, rung_steps: Collection[int], state: TrialState
    ) -> BackendResult:
        """`state` is unused: a custom trainer keeps its own checkpoints (`checkpoint_dir`)."""
        train = load_entrypoint(self.entrypoint)
        examples = TrialExamples.load(config.data)
        reports = ReportChecks(config.training, rung_steps, examples, on_progress)
        context = TrialContext(
            max_steps=config.training.max_steps,
            rung_steps=tuple(sorted(rung_steps)),
            checkpoint_dir=checkpoints.prepared(self.checkpoint_dir),
            _examples=examples,
            _reports=reports,
        )
        given = train(config.model_dump(mode="json"), context)
        if not isinstance(given, Mapping):
            raise TrialFailed(
                f"{self.entrypoint} returned {type(given).__name__}: return a dict of the answers to "
                "context.answer_prompts, {example id: prediction text}"
            )
        steps_done = reports.finish()
        return examples.result(answers(given, f"{self.entrypoint}'s answers"), steps_done)


def load_entrypoint(entrypoint: str) -> Callable[[dict[str, Any], TrialContext], Any]:
    module_name, _, name = entrypoint.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TrialFailed(
            f"trainer.entrypoint {entrypoint}: cannot import {module_name} ({error}); install it in the "
            "trainer image (`FROM <tunesweep trainer image>` + `pip install`)"
        ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise TrialFailed(f"trainer.entrypoint {entrypoint}: {module_name} has no function {name}")
    return function
