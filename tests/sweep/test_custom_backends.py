"""Bring your own trainer: `backend: python` (a Flax function) and `backend: command` (a script)
through the real driver on the session's local Ray, with evidence that verifies; and what the
adapters refuse, each with the field and the fix."""

from __future__ import annotations

import copy
import os
import shutil
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import EvalSummary, MetricsLine
from tunesweep_evidence.sweep_manifest import validate_documents
from tunesweep_evidence.training_config import CustomConfig, CustomTraining, DataConfig
from tunesweep_evidence.verify import verify
from tunesweep_trainer.backend import Program
from tunesweep_trainer.custom.command_backend import CommandBackend
from tunesweep_trainer.custom.examples import TrialExamples
from tunesweep_trainer.custom.reports import ReportChecks
from tunesweep_trainer.errors import TrialFailed, TrialStopped
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED, drive
from tunesweep_trainer.trial import TrialIdentity, checkpoint_dir, run_trial

from tests.sweep.custom_trainers import SAMPLE_ENTRYPOINT, SCRIPT
from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest, sweep_summary

SCRIPT_COMMAND = [sys.executable, str(SCRIPT)]
BASE_CONFIG: dict[str, Any] = {
    "training": {"max_steps": 120, "report_every_steps": 20, "seed": 0},
    "optim": {"learning_rate": 0.03, "batch_size": 64},
    "data": {"eval_size": 20, "test_size": 10, "rung_size": 10},
}


def custom_sweep(trainer: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return sweep_manifest(trainer={**trainer, "baseConfig": copy.deepcopy(BASE_CONFIG)}, **spec)


def assert_verified(out: Path) -> None:
    report = verify(str(out))
    assert report.ok, report.problems


@pytest.mark.usefixtures("local_ray")
def test_a_flax_function_sweeps_with_rungs_and_its_answers_are_judged_by_tunesweep(tmp_path: Path) -> None:
    manifest = custom_sweep(
        {"backend": "python", "entrypoint": SAMPLE_ENTRYPOINT},
        algorithm={"name": "grid", "seed": 0},
        searchSpace={"optim.learning_rate": {"grid": [0.003, 0.03, 0.1]}},
        earlyStopping={"name": "asha", "gracePeriod": 40, "reductionFactor": 2},
        trials={"count": 1, "parallel": 1, "maxFailed": 0, "timeoutSeconds": 300},
    )
    plan = frozen_plan(tmp_path, manifest)
    assert plan.search is not None and plan.search.rung_steps == [40, 80]

    result = drive(plan)

    assert result.exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    assert {r.status for r in summary.trials} <= {"succeeded", "early_stopped"}
    runs = manifests(tmp_path)
    for trial_id, run in runs.items():
        assert run.backend == "python" and run.config["optim"]["batch_size"] == 64
        assert run.config["optim"]["learning_rate"] == run.params["optim.learning_rate"]
        lines = bucket.read_jsonl(layout.join(str(tmp_path), "trials", trial_id, layout.METRICS), MetricsLine)
        assert [line.step for line in lines if line.rung_score is not None] == [
            step for step in (40, 80) if step <= lines[-1].step
        ]
    best = summary.best_trial
    assert best is not None and best.primary_score == 1.0  # lr 0.03 and 0.1 learn addition exactly
    evaluation = bucket.read_document(
        layout.join(str(tmp_path), "trials", best.trial_id, layout.EVAL_SUMMARY), EvalSummary
    )
    assert evaluation.judge.name == "answer-exact-match" and len(evaluation.rows) == 20
    promoted = yaml.safe_load((tmp_path / layout.BEST_CONFIG).read_text())
    assert promoted["optim"] == {
        "learning_rate": runs[best.trial_id].params["optim.learning_rate"],
        "batch_size": 64,
    }
    assert_verified(tmp_path)


@pytest.mark.usefixtures("local_ray")
def test_a_command_sweeps_through_the_file_contract_and_the_best_is_promoted(tmp_path: Path) -> None:
    manifest = custom_sweep(
        {"backend": "command", "command": SCRIPT_COMMAND},
        algorithm={"name": "grid", "seed": 0},
        searchSpace={"optim.learning_rate": {"grid": [0.01, 0.3]}},
        trials={"count": 1, "parallel": 2, "maxFailed": 0, "timeoutSeconds": 300},
    )
    result = drive(frozen_plan(tmp_path, manifest))

    assert result.exit_code == EXIT_SUCCEEDED
    summary = sweep_summary(tmp_path)
    assert [r.status for r in summary.trials] == ["succeeded", "succeeded"]
    runs = manifests(tmp_path)
    scores = {runs[r.trial_id].params["optim.learning_rate"]: r.primary_score for r in summary.trials}
    assert scores[0.01] is not None and scores[0.3] is not None and scores[0.01] < 0.5 < scores[0.3]
    assert summary.best_trial is not None and summary.best_trial.primary_score == scores[0.3]
    promoted = yaml.safe_load((tmp_path / layout.BEST_CONFIG).read_text())
    assert promoted["optim"]["learning_rate"] == 0.3
    assert_verified(tmp_path)


def test_a_command_that_exits_nonzero_fails_its_trial_with_its_output(tmp_path: Path) -> None:
    config = copy.deepcopy(BASE_CONFIG)
    config["optim"]["fail_at_step"] = 30
    with pytest.raises(TrialFailed, match=r"exited with status 3(.|\n)*giving up at step 30"):
        run_trial("command", config, str(tmp_path), program=Program(command=tuple(SCRIPT_COMMAND)))
    recorded = yaml.safe_load((tmp_path / layout.RUN_MANIFEST).read_text())
    assert recorded["status"] == "failed" and "giving up at step 30" in recorded["error"]
    lines = bucket.read_jsonl(str(tmp_path / layout.METRICS), MetricsLine)
    assert [line.step for line in lines] == [20]  # what it reported before it crashed


def test_a_cut_trial_kills_the_command(tmp_path: Path) -> None:
    script = tmp_path / "forever.py"
    script.write_text(
        textwrap.dedent(
            """\
            import json, os, sys
            with open(sys.argv[1], "w") as file:
                file.write(str(os.getpid()))
            for step in range(1, 10**9):
                with open(os.environ["TUNESWEEP_METRICS"], "a") as file:
                    file.write(json.dumps({"step": step, "loss": 1.0}) + "\\n")
            """
        )
    )
    pid_file = tmp_path / "pid"
    config = CustomConfig.model_validate({"training": {"max_steps": 10**8, "report_every_steps": 5}})

    def cut(step: int, metrics: Any) -> None:
        raise TrialStopped("stopped by the sweep's scheduler")

    backend = CommandBackend((sys.executable, str(script), str(pid_file)), tmp_path / "checkpoint")
    with pytest.raises(TrialStopped):
        backend.run(config, cut, (), None)  # type: ignore[arg-type]
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def answers_nothing(config: dict[str, Any], context: Any) -> dict[str, str]:
    for step in range(1, context.max_steps + 1):
        context.report(step, {"loss": 1.0})
    return {}


def test_a_trainer_that_leaves_examples_unanswered_fails(tmp_path: Path) -> None:
    program = Program(entrypoint="tests.sweep.test_custom_backends:answers_nothing")
    with pytest.raises(TrialFailed, match=r"no answer to 20 of the 20 eval examples"):
        run_trial("python", copy.deepcopy(BASE_CONFIG), str(tmp_path), program=program)


def test_an_entrypoint_that_cannot_be_imported_names_the_fix(tmp_path: Path) -> None:
    program = Program(entrypoint="no_such_pkg.train:run")
    with pytest.raises(TrialFailed, match=r"cannot import no_such_pkg.*pip install"):
        run_trial("python", copy.deepcopy(BASE_CONFIG), str(tmp_path), program=program)


def reports(recorded: list[tuple[int, dict[str, float]]], rung_steps: tuple[int, ...] = (4,)) -> ReportChecks:
    training = CustomTraining(max_steps=6, report_every_steps=2)
    examples = TrialExamples.load(DataConfig(eval_size=2, test_size=2, rung_size=2))
    return ReportChecks(training, rung_steps, examples, lambda step, m: recorded.append((step, dict(m))))


def test_reports_keep_the_report_steps_and_judge_the_rung_answers() -> None:
    recorded: list[tuple[int, dict[str, float]]] = []
    checks = reports(recorded)
    rung = TrialExamples.load(DataConfig(eval_size=2, test_size=2, rung_size=2)).splits.rung
    right = {record.id: f"ANSWER {record.answer}" for record in rung}
    for step in range(1, 7):
        checks.report(step, {"loss": 1.0 / step}, right if step == 4 else None)
    assert checks.finish() == 6
    assert [step for step, _ in recorded] == [2, 4, 6]
    assert recorded[1][1]["rung_score"] == 1.0


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([(1, {"loss": 1.0}), (3, {"loss": 1.0})], r"report at step 3 but none at step 2"),
        ([(2, {"loss": 1.0}), (2, {"loss": 1.0})], r"steps are integers that increase"),
        ([(2, {"loss": float("nan")})], r"step 2: every report needs a finite loss"),
        ([(2, {"loss": 1.0, "accuracy": "high"})], r"metric accuracy is 'high', not a number"),
        ([(2, {"loss": 1.0, "rung_score": 0.5})], r"report rung_answers, not a rung_score"),
        ([(2, {"loss": 1.0}), (4, {"loss": 1.0})], r"step 4 is a rung step \(\[4\]\): it takes answers"),
    ],
)
def test_reports_refuse_what_cannot_be_recorded(
    steps: list[tuple[int, dict[str, Any]]], message: str
) -> None:
    checks = reports([])
    with pytest.raises(TrialFailed, match=message):
        for step, metrics in steps:
            checks.report(step, metrics, None)


def test_a_trainer_that_stops_early_fails() -> None:
    checks = reports([], rung_steps=())
    checks.report(2, {"loss": 1.0}, None)
    with pytest.raises(TrialFailed, match=r"ended after step 2 without reporting step 4"):
        checks.finish()


def spec_problems(trainer: dict[str, Any], search_space: dict[str, Any]) -> str:
    """What `tunesweep validate` says of the sweep, one line per problem."""
    manifest = sweep_manifest(trainer=trainer, searchSpace=search_space)
    problems = validate_documents(yaml.safe_dump(manifest, sort_keys=False))
    return "\n".join(f"{problem.path}: {problem.message}" for problem in problems)


def test_search_paths_of_a_custom_trainer_must_name_keys_of_its_base_config() -> None:
    trainer = {"backend": "python", "entrypoint": SAMPLE_ENTRYPOINT, "baseConfig": copy.deepcopy(BASE_CONFIG)}
    problems = spec_problems(trainer, {"optim.learning_rat": {"loguniform": [1e-3, 1e-1]}})
    assert "known keys under optim: learning_rate, batch_size" in problems
    problems = spec_problems(trainer, {"training.max_steps": {"choice": [0, 10]}})
    assert "0 is not a valid training.max_steps" in problems
    problems = spec_problems(trainer, {"data.eval_size": {"choice": [5, 10]}})
    assert "the evaluation protocol is fixed for a sweep" in problems


@pytest.mark.parametrize(
    ("trainer", "message"),
    [
        ({"backend": "python"}, "backend python needs trainer.entrypoint"),
        ({"backend": "command"}, "backend command needs trainer.command"),
        ({"backend": "mock", "entrypoint": SAMPLE_ENTRYPOINT}, "entrypoint is read by backend python only"),
        ({"backend": "python", "entrypoint": "my_pkg.train"}, "module.path:function"),
    ],
)
def test_a_custom_backend_needs_its_program(trainer: dict[str, Any], message: str) -> None:
    base = {"baseConfig": copy.deepcopy(BASE_CONFIG)}
    assert message in spec_problems(base | trainer, {"optim.learning_rate": {"loguniform": [1e-3, 1e-1]}})


SEEN_SAVED_STEPS: list[int | None] = []


def saves_each_report(config: dict[str, Any], context: Any) -> dict[str, str]:
    SEEN_SAVED_STEPS.append(context.last_saved_step)
    for step in range(1, context.max_steps + 1):
        (context.checkpoint_dir / "weights.txt").write_text(str(step))
        context.saved(step)
        context.report(step, {"loss": 1.0})
    return {prompt.id: "ANSWER 0" for prompt in context.answer_prompts}


def test_a_trial_run_again_finds_its_last_saved_checkpoint(tmp_path: Path) -> None:
    identity = TrialIdentity(tuning_job_id=uuid.uuid4().hex, trial_id="t1")
    program = Program(entrypoint="tests.sweep.test_custom_backends:saves_each_report")
    SEEN_SAVED_STEPS.clear()
    for attempt in ("first", "again"):
        run_trial(
            "python", copy.deepcopy(BASE_CONFIG), str(tmp_path / attempt), identity=identity, program=program
        )
    assert SEEN_SAVED_STEPS == [None, 120]
    other = TrialIdentity(tuning_job_id=identity.tuning_job_id, trial_id="t2")
    run_trial("python", copy.deepcopy(BASE_CONFIG), str(tmp_path / "other"), identity=other, program=program)
    assert SEEN_SAVED_STEPS[-1] is None  # each trial has its own folder
    shutil.rmtree(checkpoint_dir(identity).parent)
