"""The flax-lm backend on the tiny preset: real Tunix training and sampling on CPU, in seconds."""

from __future__ import annotations

import copy
import itertools
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from tunesweep_evidence.judge import AnswerRule, answer_correctness
from tunesweep_evidence.training_config import LoraConfig, ModelConfig, TrainingSection
from tunesweep_trainer.data import arithmetic
from tunesweep_trainer.data.records import Record, prompt_text
from tunesweep_trainer.flax_lm import batches, evaluation, models, optimizer, training
from tunesweep_trainer.trial import TrialFailed, TrialIdentity, run_trial

from tests.trainer import evidence_files

SHORT: dict[str, Any] = {
    "training": {"max_steps": 12, "report_every_steps": 4, "warmup_steps": 2},
    "data": {"train_size": 256, "eval_size": 8, "test_size": 8, "rung_size": 4},
}
BASE_PARAMS = nnx.All(nnx.Param, nnx.Not(nnx.LoRAParam))
TURNS = "<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"
"""An instruction-tuned Gemma's template, as manifests/samples/sweep-gpu.yaml sets it."""


def _values(model: nnx.Module, kind: Any) -> dict[Any, np.ndarray]:
    return {path: np.array(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model, kind))}


def _train(
    model: nnx.Module,
    steps: int = 3,
    *,
    rungs: training.Rungs | None = None,
    batches_given: int | None = None,
    learning_rate: float = 1e-3,
) -> None:
    _, records = arithmetic.deal(0, [("eval_size", 1), ("train_size", 64)])
    encoded = batches.encode(records, models.ByteTokenizer(), "{prompt}\n", 64)
    section = TrainingSection(max_steps=steps, warmup_steps=0, learning_rate=learning_rate)
    training.fine_tune(
        model,
        itertools.islice(batches.training_batches(encoded, 32, 0), batches_given),
        models.ByteTokenizer.PAD,
        section,
        lambda step, loss: None,
        rungs=rungs or training.Rungs(),
    )


def test_a_rung_measures_the_model_after_exactly_that_many_updates() -> None:
    model, _ = models.build(ModelConfig(), seed=0)
    measured: dict[int, dict[Any, np.ndarray]] = {}
    _train(
        model,
        6,
        rungs=training.Rungs(
            frozenset({3, 6}), lambda step: measured.update({step: _values(model, nnx.Param)})
        ),
    )
    assert sorted(measured) == [3, 6]
    # The same run (same schedule) given only 3 batches: its end is the rung at step 3.
    three, _ = models.build(ModelConfig(), seed=0)
    _train(three, 6, batches_given=3)
    for values, expected in (
        (measured[3], _values(three, nnx.Param)),
        (measured[6], _values(model, nnx.Param)),
    ):
        assert values.keys() == expected.keys()
        assert all(np.array_equal(values[path], expected[path]) for path in values)
    assert not all(np.array_equal(measured[3][path], measured[6][path]) for path in measured[3])


def test_rung_scores_are_reported_at_rung_steps_and_the_test_score_never(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    outcome = run_trial("flax-lm", SHORT, str(tmp_path), report=reports.append, rung_steps=(4, 12))
    _, lines, summary = evidence_files.read(tmp_path)
    assert [(line.step, line.rung_score is not None) for line in lines] == [(4, True), (8, False), (12, True)]
    assert [report["step"] for report in reports if "rung_score" in report] == [4, 12]
    assert all(0.0 <= line.rung_score <= 1.0 for line in lines if line.rung_score is not None)
    assert [line.rung_eval_s is not None and line.rung_eval_s > 0 for line in lines] == [True, False, True]
    assert summary is not None and len(summary.test_rows) == 8 and summary.test_score is not None
    assert {row.id for row in summary.test_rows}.isdisjoint(row.id for row in summary.rows)
    assert all("test" not in key for report in reports for key in report)
    assert outcome.primary_score == summary.primary_score


def test_tiny_trial_writes_valid_evidence_and_reproduces(tmp_path: Path, compile_cache_dir: str) -> None:
    reports: list[dict[str, Any]] = []
    identity = TrialIdentity(tuning_job_id="sweep-uid", trial_id="t0", image="trainer:dev")
    first = run_trial("flax-lm", SHORT, str(tmp_path / "a"), identity=identity, report=reports.append)
    second = run_trial("flax-lm", copy.deepcopy(SHORT), str(tmp_path / "b"))

    manifest, lines, summary = evidence_files.read(tmp_path / "a")
    assert manifest.status == "succeeded" and manifest.error is None
    assert (manifest.backend, manifest.trial_id, manifest.image) == ("flax-lm", "t0", "trainer:dev")
    assert manifest.host.accelerator.platform == "cpu" and "jax" in manifest.versions
    assert manifest.config["training"]["max_steps"] == 12 and manifest.seed == 0
    assert summary is not None and summary.n_examples == 8 and summary.judge.name == "answer-exact-match"
    assert summary.primary_score == first.primary_score
    assert all(0.0 <= row.metrics["answer_correctness"] <= 1.0 for row in summary.rows)
    assert [line.step for line in lines] == [4, 8, 12]
    assert all(line.loss is not None and 0 < line.loss < 10 for line in lines)

    assert [r["step"] for r in reports] == [4, 8, 12]
    assert {"loss", "learning_rate", "elapsed_s"} <= reports[0].keys()
    assert reports[-1]["primary_score"] == first.primary_score and first.steps_done == 12

    # same config and seed: the same losses, predictions and score
    _, other_lines, other_summary = evidence_files.read(tmp_path / "b")
    assert other_summary is not None
    assert [line.loss for line in other_lines] == [line.loss for line in lines]
    assert [row.prediction for row in other_summary.rows] == [row.prediction for row in summary.rows]
    assert second.primary_score == first.primary_score
    assert manifest.compile_cache is not None
    assert manifest.compile_cache.folder.startswith(f"{compile_cache_dir}/jax-")
    assert any("train_step" in name for name in os.listdir(manifest.compile_cache.folder))


def test_lora_trial_runs_and_updates_only_the_adapters(tmp_path: Path) -> None:
    config = copy.deepcopy(SHORT)
    config["model"] = {"lora": {"rank": 2, "alpha": 4.0}}
    outcome = run_trial("flax-lm", config, str(tmp_path))
    manifest, _, _ = evidence_files.read(tmp_path)
    assert manifest.status == "succeeded" and manifest.config["model"]["lora"]["rank"] == 2
    assert outcome.steps_done == 12

    model, _ = models.build(ModelConfig(lora=LoraConfig(rank=2)), seed=0)
    base, adapters = _values(model, BASE_PARAMS), _values(model, nnx.LoRAParam)
    _train(model)
    assert all(np.array_equal(value, _values(model, BASE_PARAMS)[path]) for path, value in base.items())
    changed = [
        path
        for path, value in _values(model, nnx.LoRAParam).items()
        if not np.array_equal(value, adapters[path])
    ]
    # every adapter learns, the MLP ones included (Tunix's zero-initialised MLPs would freeze them)
    assert len(changed) == len(adapters) > 0


def test_full_fine_tune_updates_every_parameter() -> None:
    model, _ = models.build(ModelConfig(), seed=0)
    before = _values(model, nnx.Param)
    _train(model)
    after = _values(model, nnx.Param)
    assert [path for path in before if np.array_equal(before[path], after[path])] == []


def test_nan_loss_fails_the_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An optimizer that turns every parameter into NaN: the loss after the first update is NaN.
    monkeypatch.setattr(optimizer, "build", lambda training: optax.scale(float("nan")))
    with pytest.raises(TrialFailed, match="loss became NaN at step 2"):
        run_trial("flax-lm", SHORT, str(tmp_path))
    manifest, lines, summary = evidence_files.read(tmp_path)
    assert manifest.status == "failed" and manifest.error == "TrialFailed: loss became NaN at step 2"
    assert lines == [] and summary is None


def test_bfloat16_parameters() -> None:
    model, _ = models.build(ModelConfig(dtype="bfloat16"), seed=0)
    assert {str(v.dtype) for v in _values(model, nnx.Param).values()} == {"bfloat16"}


def test_a_1e_5_lora_update_moves_bfloat16_adapters() -> None:
    model, _ = models.build(ModelConfig(dtype="bfloat16", lora=LoraConfig(rank=2)), seed=0)
    # Every adapter value at 2^-5: bfloat16 spaces values there 2^-13 apart below, so a weight
    # updated in bfloat16 ignores any step under 2^-14 (6e-5), and AdamW's steps are at most the
    # learning rate (1e-5). Only float32 master weights gather them into a move.
    adapters = nnx.state(model, nnx.LoRAParam)
    nnx.update(model, jax.tree.map(lambda value: jnp.full_like(value, 2.0**-5), adapters))
    _train(model, steps=30, learning_rate=1e-5)
    after = _values(model, nnx.LoRAParam)
    assert {str(value.dtype) for value in after.values()} == {"bfloat16"}
    moved = [path for path, value in after.items() if path[-1] == "w_lora_a" and (value != 2.0**-5).any()]
    assert len(moved) == len([path for path in after if path[-1] == "w_lora_a"]) > 0


def test_the_byte_tokenizer_holds_the_turn_end_as_one_token() -> None:
    tokenizer = models.ByteTokenizer()
    text = "Q: 3+4?<end_of_turn>\nü"
    assert tokenizer.encode(text) == [*b"Q: 3+4?", tokenizer.EOT, *"\nü".encode()]
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.decode([tokenizer.BOS, *b"ok", tokenizer.EOS]) == "ok"


def test_a_turn_template_s_targets_end_the_model_s_turn() -> None:
    tokenizer = models.ByteTokenizer()
    record = Record(id="r0", prompt="Q: 3+4?", trace="", answer="7")

    def learnt(template: str) -> list[int]:
        encoded = batches.encode([record], tokenizer, template, 96)
        return list(encoded.tokens[0][encoded.loss_mask[0]])

    assert learnt(TURNS) == [*b"ANSWER 7", tokenizer.EOT, tokenizer.EOS]
    assert learnt("{prompt}\n") == [*b"ANSWER 7", tokenizer.EOS]


def test_generation_stops_where_the_model_ends_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    # An under-trained instruction-tuned model: it answers, ends its turn, then makes up more.
    tokenizer = models.ByteTokenizer()
    prompt = prompt_text(Record(id="r0", prompt="Q: 3+4?", trace="", answer="7"), TURNS)
    said = "ANSWER 7<end_of_turn>\n<start_of_turn>user\nANSWER 9"
    sequence = [tokenizer.BOS, *tokenizer.encode(prompt), *tokenizer.encode(said), tokenizer.EOS]
    tokens = np.full((8, 96), tokenizer.PAD, np.int32)
    tokens[:, : len(sequence)] = sequence
    loss_mask = np.zeros(tokens.shape, bool)
    loss_mask[:, len(sequence) - len(tokenizer.encode(said)) - 1 : len(sequence)] = True
    model = models.random_tiny(0)
    training.fine_tune(
        model,
        batches.training_batches(batches.EncodedRecords(tokens, loss_mask), 8, 0),
        tokenizer.PAD,
        TrainingSection(max_steps=40, warmup_steps=0, learning_rate=1e-2),
        lambda step, loss: None,
    )

    def generated() -> str:
        [text] = evaluation.generate(model, tokenizer, [prompt], max_generation_steps=48, batch_size=1)
        return text

    assert generated() == "ANSWER 7"
    assert answer_correctness("ANSWER 7", "7") == ("7", 1.0)
    # the control: stopping at EOS alone, the model says what it learnt after its turn, and the
    # version 1 judge (the last marker) read the made-up answer
    monkeypatch.setattr(evaluation, "end_of_turn_id", lambda tokenizer: None)
    assert generated() == said
    assert answer_correctness(said, "7", AnswerRule.LAST_OF_PREDICTION) == ("9", 0.0)
