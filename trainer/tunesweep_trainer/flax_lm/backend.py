"""One `flax-lm` trial's work: data, model, fine-tuning, greedy evaluation, judged rows."""

from __future__ import annotations

import math

import jax
from tunesweep_evidence import judge
from tunesweep_evidence.documents import AcceleratorInfo
from tunesweep_evidence.training_config import TrainingConfig

from .. import compile_cache
from ..backend import BackendResult, ProgressFn, is_report_step
from ..data import sources
from ..data.records import prompt_text
from ..errors import TrialFailed
from ..schedule import learning_rate_at
from . import batches, evaluation, models, training


def prepare() -> AcceleratorInfo:
    """Set the process up for training (the shared compile cache, before anything compiles) and
    say what it will train on."""
    compile_cache.enable()
    devices = jax.devices()
    return AcceleratorInfo(
        platform=devices[0].platform, device_kind=devices[0].device_kind, count=len(devices)
    )


def run(config: TrainingConfig, on_progress: ProgressFn) -> BackendResult:
    train_records, eval_records = sources.load_splits(config.data)
    model, tokenizer = models.build(config.model, config.training.seed)
    encoded = batches.encode(train_records, tokenizer, config.data.prompt_template, config.model.max_length)
    section = config.training

    def on_step(step: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise TrialFailed(f"loss became {'NaN' if math.isnan(loss) else loss} at step {step}")
        if is_report_step(step, section):
            rate = learning_rate_at(step - 1, section.learning_rate, section.warmup_steps, section.max_steps)
            on_progress(step, {"loss": loss, "learning_rate": float(rate)})

    steps_done = training.fine_tune(
        model,
        batches.training_batches(encoded, section.per_device_batch_size, section.seed),
        tokenizer.pad_id(),
        section,
        on_step,
    )
    predictions = evaluation.generate(
        model,
        tokenizer,
        [prompt_text(record, config.data.prompt_template) for record in eval_records],
        max_generation_steps=config.eval.max_generation_steps,
        batch_size=config.eval.batch_size,
    )
    rows = [
        judge.eval_row(record.id, record.prompt, record.answer, prediction)
        for record, prediction in zip(eval_records, predictions, strict=True)
    ]
    return BackendResult(rows=rows, judge=judge.JUDGE, steps_done=steps_done)
