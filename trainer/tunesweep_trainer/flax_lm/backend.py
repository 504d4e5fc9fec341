"""One `flax-lm` trial's work: data, model, fine-tuning, greedy evaluation, judged rows."""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence

from jax.sharding import Mesh
from tunesweep_evidence import judge
from tunesweep_evidence.documents import AcceleratorInfo, EvalRow
from tunesweep_evidence.primary_score import primary_score
from tunesweep_evidence.training_config import TrainingConfig

from .. import compile_cache, environment
from ..backend import RUNG_SCORE, BackendResult, ProgressFn, is_report_step
from ..checkpointing import SavedState, TrialState
from ..data import sources
from ..data.records import Record, prompt_text
from ..errors import TrialFailed
from ..schedule import learning_rate_at
from . import batches, evaluation, mesh, models, training


def _checkpoints(state: TrialState) -> training.Checkpoints | None:
    """Tunix's checkpoints of the trial in a local folder, holding the resumed one if any; None when
    the trial keeps none."""
    if not state.save_steps and state.resumed is None:
        return None
    folder = state.scratch("tunix")
    state.restore(folder / str(state.resumed_step))
    return training.Checkpoints(folder, state.save_steps)


def prepare() -> AcceleratorInfo:
    """Set the process up for training (the shared compile cache, before anything compiles) and
    say what it will train on."""
    compile_cache.enable()
    return environment.jax_accelerator()


def run(
    config: TrainingConfig, on_progress: ProgressFn, rung_steps: Collection[int], state: TrialState
) -> BackendResult:
    splits = sources.load_splits(config.data)
    devices = mesh.trial_mesh()
    with mesh.active(devices):
        return _run_on(devices, config, splits, on_progress, rung_steps, state)


def _run_on(
    devices: Mesh,
    config: TrainingConfig,
    splits: sources.Splits,
    on_progress: ProgressFn,
    rung_steps: Collection[int],
    state: TrialState,
) -> BackendResult:
    built = models.load(config.model, config.training.seed, devices)
    model, tokenizer = built.model, built.tokenizer
    encoded = batches.encode(splits.train, tokenizer, config.data.prompt_template, config.model.max_length)
    section = config.training
    batch_size = section.global_batch_size(devices.size)
    rung_scores: dict[int, dict[str, float]] = {}
    saved = _checkpoints(state)
    if saved is not None:
        # Tunix saved the state of each save step in its folder by the time the step is reported.
        data = {"data_seed": section.seed}
        state.writes(lambda step: SavedState(saved.folder / str(step), step * batch_size, data))

    def judged(records: Sequence[Record]) -> list[EvalRow]:
        predictions = evaluation.generate(
            model,
            tokenizer,
            [prompt_text(record, config.data.prompt_template) for record in records],
            max_generation_steps=config.eval.max_generation_steps,
            batch_size=config.eval.batch_size,
            devices=devices.size,
        )
        return [
            judge.eval_row(record.id, record.prompt, record.answer, prediction)
            for record, prediction in zip(records, predictions, strict=True)
        ]

    def on_rung(step: int) -> None:
        started = time.monotonic()
        score = primary_score(judged(splits.rung)) or 0.0
        rung_scores[step] = {RUNG_SCORE: score, "rung_eval_s": time.monotonic() - started}

    def on_step(step: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise TrialFailed(f"loss became {'NaN' if math.isnan(loss) else loss} at step {step}")
        if is_report_step(step, section, rung_steps):
            rate = learning_rate_at(step - 1, section.learning_rate, section.warmup_steps, section.max_steps)
            metrics = {"loss": loss, "learning_rate": float(rate)}
            metrics.update(rung_scores.pop(step, {}))
            on_progress(step, metrics)

    steps_done = training.fine_tune(
        model,
        batches.training_batches(encoded, batch_size, section.seed),
        tokenizer.pad_id(),
        section,
        on_step,
        # a resumed trial reported the rungs up to its checkpoint before
        rungs=training.Rungs(frozenset(s for s in rung_steps if s > state.resumed_step), on_rung),
        mesh=devices,
        checkpoints=saved,
    )
    return BackendResult(
        rows=judged(splits.eval),
        test_rows=judged(splits.test),
        judge=judge.JUDGE,
        steps_done=steps_done,
        base_model=built.base,
    )
