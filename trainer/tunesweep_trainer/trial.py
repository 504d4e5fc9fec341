"""One trial: train and evaluate one config on one backend, score it, and leave its evidence.

    outcome = run_trial("flax-lm", config, "file:///runs/sweep/trials/t1", report=tune_report)
    outcome = run_trial("python", config, out, program=Program(entrypoint="my_pkg.train:run"))

Evidence under `out_uri` (names from `tunesweep_evidence.layout`): `run_manifest.json` (written at
the start with status running, rewritten at the end with succeeded / failed / early_stopped and
the JAX compile cache's hits and misses, see `compile_cache`),
`metrics.jsonl` (one line per report), `eval_summary.json` (the judged rows and the primary score,
and the test slice's rows and score).

`held_out_examples(backend, config.data)` are the (id, prompt, expected) examples of the eval set
and of the test slice a trial of that config is scored on, without training: the sweep driver
records them once (eval_set.json).

`report` receives plain metrics every `training.report_every_steps` steps and at each of
`rung_steps` (step, loss, learning_rate, elapsed_s, `rung_score` at a rung step, and
`saved_checkpoint` where a checkpoint was saved, see `checkpointing`) before the last step and,
after evaluation, a final payload: the last step's metrics plus primary_score, answer_correctness
and eval_examples. The test slice's score is not reported: no decision may use
it. Whatever `report` raises propagates after the manifest is marked: `TrialStopped` marks it
early_stopped, anything else failed.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from tunesweep_evidence import trial_checkpoints
from tunesweep_evidence.documents import AcceleratorInfo, EvalSummary, MetricsLine, Mode, RunManifest, Segment
from tunesweep_evidence.primary_score import primary_score, require_score
from tunesweep_evidence.training_config import CustomConfig, DataConfig, TrainingConfig, config_model
from tunesweep_evidence.trial_checks import report_steps

from . import compile_cache, environment, mock
from .backend import BackendResult, Program, load_backend
from .checkpointing import NO_CHECKPOINTS, CheckpointPolicy, Donor, TrialState
from .data import sources
from .errors import InvalidConfig, TrialFailed, TrialStopped
from .recorder import TrialRecorder, now, unfinished

__all__ = ["InvalidConfig", "TrialFailed", "TrialIdentity", "TrialOutcome", "TrialStopped", "run_trial"]

SAVED_CHECKPOINT = "saved_checkpoint"
"""In a report: the folder (relative to the trial's) of the checkpoint saved at that step."""
BUILT_IN = Program()
"""A built-in backend's program: none, the backend is the trainer."""
Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrialIdentity:
    """Who a trial is, for its manifest: standalone runs need none of it."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    tuning_job_id: str | None = None
    """The sweep's uid."""
    trial_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """The sampled hyperparameters, flat dotted paths (e.g. `training.learning_rate`)."""
    image: str = ""


@dataclass(frozen=True)
class TrialOutcome:
    run_id: str
    primary_score: float | None
    metrics: dict[str, float]
    """The final report's numbers: loss, learning_rate, elapsed_s, answer_correctness, eval_examples."""
    steps_done: int
    eval_summary_uri: str
    run_manifest_uri: str
    metrics_uri: str


Examples = list[tuple[str, str, str]]


def held_out_examples(backend: str, data: DataConfig) -> tuple[Examples, Examples]:
    """(id, prompt, expected answer) of the eval set and of the test slice `backend` scores a
    config's `data` on."""
    if backend == "mock":
        return mock.eval_examples(data), mock.test_examples(data)
    splits = sources.load_splits(data)  # what flax_lm/backend.py evaluates
    return (
        [(record.id, record.prompt, record.answer) for record in splits.eval],
        [(record.id, record.prompt, record.answer) for record in splits.test],
    )


def parse_config(
    config: TrainingConfig | CustomConfig | Mapping[str, Any], backend: str = "flax-lm"
) -> TrainingConfig | CustomConfig:
    """The validated config (`backend`'s config model), or InvalidConfig naming every bad field by
    its dotted path."""
    if isinstance(config, TrainingConfig | CustomConfig):
        return config
    try:
        return config_model(backend).model_validate(config)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(config)'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise InvalidConfig(f"invalid training config: {problems}") from None


def run_trial(
    backend: str,
    config: TrainingConfig | CustomConfig | dict[str, Any],
    out_uri: str,
    *,
    mode: str = "production",
    identity: TrialIdentity | None = None,
    report: Report | None = None,
    rung_steps: Collection[int] = (),
    program: Program = BUILT_IN,
    checkpoints: CheckpointPolicy = NO_CHECKPOINTS,
    donor: Donor | None = None,
) -> TrialOutcome:
    """`checkpoints`: save the trial's state at its report steps into `<out_uri>/checkpoints/`, and
    go on from the newest one there (a restarted trial: its manifest lists each start). `donor`:
    PBT's exploit, go on from that checkpoint of another trial (a new segment)."""
    if mode not in get_args(Mode):
        raise ValueError(f"unknown mode {mode!r}: expected production or smoke")
    identity = identity or TrialIdentity()
    module = load_backend(backend, program, checkpoint_dir(identity))
    started = time.monotonic()
    accelerator = module.prepare()
    cache_start = compile_cache.counts()  # the process may have run trials before this one
    try:
        parsed = parse_config(config, backend)
    except InvalidConfig as error:
        raw = dict(config)  # a parsed config is always valid: only a mapping gets here
        TrialRecorder(out_uri, _manifest(backend, raw, 0, identity, accelerator, None)).finish(
            "failed", _error(error), compile_cache.use_since(cache_start)
        )
        raise
    resolved = parsed.model_dump(mode="json")
    earlier = unfinished(out_uri, identity.trial_id)
    steps = report_steps(parsed.training, rung_steps)
    state = TrialState(out_uri, checkpoints, steps, earlier.segments if earlier else [], donor)
    started -= state.resumed_elapsed_s
    batch = _global_batch_size(parsed, accelerator.count)
    manifest = _manifest(backend, resolved, parsed.training.seed, identity, accelerator, batch)
    source = state.new_segment_source
    new_segment = (
        None
        if source is None
        else Segment(from_step=source.step, params=identity.params, source=source, started_at=now())
    )
    recorder = TrialRecorder(out_uri, manifest, earlier, state.resumed_step, new_segment)
    state.elapsed_s = lambda: time.monotonic() - started
    state.on_saved = recorder.checkpoints
    state.owned = recorder.owned
    last: dict[str, float] = {}

    def on_progress(step: int, metrics: Mapping[str, float]) -> None:
        elapsed = time.monotonic() - started
        last.clear()
        last.update(metrics)
        recorder.metrics(MetricsLine(step=step, elapsed_s=elapsed, **_finite(metrics)))
        saved = state.save_if_due(step)
        # The last step's metrics go with the evaluation: a trial done training is not cut.
        if report is not None and step < parsed.training.max_steps:
            offered = {SAVED_CHECKPOINT: trial_checkpoints.folder_of(saved)} if saved else {}
            report({"step": step, **metrics, "elapsed_s": elapsed, **offered})

    try:
        result = module.run(parsed, on_progress, rung_steps, state)
        score = require_score(primary_score(result.rows), mode)
        summary = _summary(result, score, mode, backend, identity)
        recorder.eval_summary(summary)
    except TrialStopped:
        recorder.finish("early_stopped", cache=compile_cache.use_since(cache_start))
        raise
    except BaseException as error:
        recorder.finish("failed", _error(error), compile_cache.use_since(cache_start))
        raise
    recorder.finish("succeeded", cache=compile_cache.use_since(cache_start), base_model=result.base_model)
    final = {**last, "elapsed_s": time.monotonic() - started, **summary.metrics}
    final["eval_examples"] = float(summary.n_examples)
    if report is not None:
        report({"step": result.steps_done, **final, "primary_score": score})
    return TrialOutcome(
        run_id=identity.run_id,
        primary_score=score,
        metrics=final,
        steps_done=result.steps_done,
        eval_summary_uri=recorder.eval_summary_uri,
        run_manifest_uri=recorder.manifest_uri,
        metrics_uri=recorder.metrics_uri,
    )


def checkpoint_dir(identity: TrialIdentity) -> Path:
    """Where a custom trainer may keep its checkpoints: a local folder per trial, so a trial run
    again on this machine (a resumed sweep) finds what it saved."""
    sweep = identity.tuning_job_id or "standalone"
    return Path(tempfile.gettempdir(), "tunesweep-checkpoints", sweep, identity.trial_id or identity.run_id)


def _global_batch_size(config: TrainingConfig | CustomConfig, devices: int) -> int | None:
    """The examples of each step, as the flax-lm backend batches; a custom trainer batches as it
    likes, and the mock counts no device."""
    if isinstance(config, TrainingConfig) and devices:
        return config.training.global_batch_size(devices)
    return None


def _manifest(
    backend: str,
    config: dict[str, Any],
    seed: int,
    identity: TrialIdentity,
    accelerator: AcceleratorInfo,
    global_batch_size: int | None,
) -> RunManifest:
    return RunManifest(
        run_id=identity.run_id,
        tuning_job_id=identity.tuning_job_id,
        trial_id=identity.trial_id,
        backend=backend,
        params=identity.params,
        config=config,
        seed=seed,
        image=identity.image,
        versions=environment.versions(),
        host=environment.host(accelerator),
        global_batch_size=global_batch_size,
        status="running",
        started_at=now(),
    )


def _summary(
    result: BackendResult, score: float | None, mode: str, backend: str, identity: TrialIdentity
) -> EvalSummary:
    names = sorted({name for row in result.rows for name in row.metrics})
    means = {
        name: math.fsum(values) / len(values)
        for name in names
        if (values := [row.metrics[name] for row in result.rows if name in row.metrics])
    }
    return EvalSummary(
        run_id=identity.run_id,
        trial_id=identity.trial_id,
        mode=mode,
        backend=backend,
        primary_score=score,
        n_examples=len(result.rows),
        metrics=means,
        judge=result.judge,
        rows=result.rows,
        test_score=primary_score(result.test_rows),
        test_rows=result.test_rows,
    )


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _finite(metrics: Mapping[str, float]) -> dict[str, float | None]:
    # JSON has no NaN: a non-finite value is recorded as null.
    return {name: value if math.isfinite(value) else None for name, value in metrics.items()}
