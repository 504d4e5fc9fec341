"""THE MOCK TRAINER: no model, no data, no training. For operator tests on kind and CPU-only demos.

It stands in for `flax-lm` where real training would be too slow to exercise the operator: a trial
takes milliseconds, is deterministic, and leaves the same evidence files, always marked as a mock
(`backend: mock` in the manifest and summary, judge `mock-surface`, prompts `(mock) ...`).

Its score is a smooth analytic surface over the seed sweep's five hyperparameters, with a little
seeded noise, so that a search has something to find:
- training.learning_rate: a bell in log space peaking at 3e-3 (half-width about half a decade);
- training.per_device_batch_size: larger is slightly better, saturating;
- training.weight_decay: best near 0.01;
- training.warmup_steps: best near 5% of max_steps;
- training.max_steps: more is better, saturating.
Simulated steps report a loss decaying towards a floor that is lower where the surface is higher.
At a rung step the simulated rung-slice correctness climbs towards the final score at the pace
the loss falls (a larger learning rate learns faster), so that early rungs rank trials roughly,
not exactly, as their final scores do. The test slice scores the same setting with other noise.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Collection
from pathlib import Path

from tunesweep_evidence.documents import AcceleratorInfo, EvalRow
from tunesweep_evidence.judge import MOCK_JUDGE, eval_row
from tunesweep_evidence.training_config import DataConfig, TrainingConfig, TrainingSection

from .backend import RUNG_SCORE, BackendResult, ProgressFn, is_report_step
from .checkpointing import SavedState, TrialState
from .schedule import learning_rate_at

JUDGE = MOCK_JUDGE
BEST_LEARNING_RATE = 3e-3
NOISE = 0.01


def surface(training: TrainingSection) -> float:
    """The noiseless score of a hyperparameter setting, in 0..1."""
    lr_decades = math.log10(training.learning_rate / BEST_LEARNING_RATE)
    learning_rate = math.exp(-(lr_decades**2) / (2 * 0.5**2))
    batch = 0.85 + 0.15 * (1 - math.exp(-training.per_device_batch_size / 16))
    decay = 1 - 0.15 * math.tanh(((training.weight_decay - 0.01) / 0.05) ** 2)
    warmup_share = training.warmup_steps / training.max_steps
    warmup = 1 - 0.1 * math.tanh(((warmup_share - 0.05) / 0.05) ** 2)
    steps = 1 - 0.5 * math.exp(-training.max_steps / 150)
    return 0.95 * learning_rate * batch * decay * warmup * steps


def noisy_score(training: TrainingSection) -> float:
    """The surface plus noise seeded by the whole setting: the same config always scores the same."""
    noise = _rng(training, "score").gauss(0.0, NOISE)
    return min(1.0, max(0.0, surface(training) + noise))


def simulated_loss(step: int, training: TrainingSection, score: float) -> float:
    """A loss decaying from 3.0 towards a floor set by the score, faster with a larger learning rate."""
    floor = 0.1 + 2.0 * (1.0 - score)
    return floor + (3.0 - floor) * math.exp(-step / _pace(training))


def simulated_rung_score(step: int, training: TrainingSection, score: float, rung_size: int) -> float:
    """The share of `rung_size` rung-slice examples right after `step` updates: the final score
    approached at the loss's pace, with noise seeded by the setting and the step."""
    reached = score * (1.0 - math.exp(-step / _pace(training)))
    noisy = min(1.0, max(0.0, reached + _rng(training, f"rung:{step}").gauss(0.0, 0.05)))
    return round(noisy * rung_size) / rung_size


def _pace(training: TrainingSection) -> float:
    return 50.0 / max(min(training.learning_rate / BEST_LEARNING_RATE, 3.0), 0.01)


def prepare() -> AcceleratorInfo:
    return AcceleratorInfo(platform="cpu", device_kind="mock", count=0)


def run(
    config: TrainingConfig, on_progress: ProgressFn, rung_steps: Collection[int], state: TrialState
) -> BackendResult:
    training = config.training
    start, history = _resumed(state)
    if not history or history[-1][1] != surface(training):
        history.append((start, surface(training)))  # a new setting from here (PBT's explore)
    noise = _rng(training, "score").gauss(0.0, NOISE)

    def score_at(step: int) -> float:
        return min(1.0, max(0.0, _trained(history, step) + noise))

    state.writes(lambda step: SavedState(_written(state.scratch(f"step-{step}"), step, history), 0, {}))
    for step in range(start + 1, training.max_steps + 1):
        if is_report_step(step, training, rung_steps):
            score = score_at(step)
            rate = learning_rate_at(
                step - 1, training.learning_rate, training.warmup_steps, training.max_steps
            )
            metrics = {"loss": simulated_loss(step, training, score), "learning_rate": float(rate)}
            if step in rung_steps:
                metrics[RUNG_SCORE] = simulated_rung_score(step, training, score, config.data.rung_size)
            on_progress(step, metrics)
    score = score_at(training.max_steps)
    test_score = min(1.0, max(0.0, surface(training) + _rng(training, "test").gauss(0.0, NOISE)))
    return BackendResult(
        rows=_rows(eval_examples(config.data), score, _rng(training, "rows")),
        test_rows=_rows(test_examples(config.data), test_score, _rng(training, "test-rows")),
        judge=JUDGE,
        steps_done=training.max_steps,
    )


History = list[tuple[int, float]]
"""(from step, surface) of each setting the simulated model trained under, in order: its state. A
trial trained under one setting scores its surface; under several (PBT), their mean weighted by
the steps each trained, so a trial that goes on from a better one's checkpoint inherits its
progress."""


def _trained(history: History, step: int) -> float:
    if len(history) == 1:
        return history[0][1]
    ends = [start for start, _ in history[1:]] + [step]
    return math.fsum((end - start) * value for (start, value), end in zip(history, ends, strict=True)) / step


def _resumed(state: TrialState) -> tuple[int, History]:
    restored = state.restore(state.scratch("resumed"))
    if restored is None:
        return 0, []
    saved = json.loads((restored / "state.json").read_text())
    return int(saved["step"]), [(int(start), float(value)) for start, value in saved["history"]]


def _written(folder: Path, step: int, history: History) -> Path:
    # It reads no data (data_position 0) and draws nothing at random but from the setting and step.
    (folder / "state.json").write_text(json.dumps({"step": step, "history": history}))
    return folder


def eval_examples(data: DataConfig) -> list[tuple[str, str, str]]:
    """(id, prompt, expected) of the `eval_size` examples every mock trial is evaluated on."""
    return _examples("mock", "example", data.eval_size)


def test_examples(data: DataConfig) -> list[tuple[str, str, str]]:
    """(id, prompt, expected) of the `test_size` examples of the test slice."""
    return _examples("mock-test", "test example", data.test_size)


def _examples(prefix: str, label: str, count: int) -> list[tuple[str, str, str]]:
    return [(f"{prefix}-{index}", f"(mock) {label} {index}", str(index)) for index in range(count)]


def _rows(examples: list[tuple[str, str, str]], score: float, rng: random.Random) -> list[EvalRow]:
    """Rows of which round(score * n) are correct, so their mean is the score to 1/(2n)."""
    correct = set(rng.sample(range(len(examples)), round(score * len(examples))))
    return [
        eval_row(row_id, prompt, expected, f"(mock) ANSWER {expected if index in correct else 'wrong'}")
        for index, (row_id, prompt, expected) in enumerate(examples)
    ]


def _rng(training: TrainingSection, purpose: str) -> random.Random:
    # Seeded from the setting itself (not Python's salted hash()), so every process agrees.
    key = f"{purpose}:{training.model_dump_json()}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
