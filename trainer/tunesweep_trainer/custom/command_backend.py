"""`backend: command`: the trial runs `trainer.command` (any language) as a subprocess, with files
for what goes in and out, named by environment variables:

In (written by tunesweep):
- TUNESWEEP_CONFIG: config.json, the trial's config (base config + params, defaults filled in);
- TUNESWEEP_TRAIN_EXAMPLES: JSONL of the training records {id, prompt, trace, answer};
- TUNESWEEP_ANSWER_PROMPTS: JSONL {id, prompt}, the eval set and the test slice to answer;
- TUNESWEEP_RUNG_PROMPTS: JSONL {id, prompt}, the rung examples, answered at each rung step.
Out (written by the command):
- TUNESWEEP_METRICS: JSONL appended as training goes, one line per report:
  {"step": 50, "loss": 0.7, ...}, at a rung step with "rung_answers": {id: text};
- TUNESWEEP_ANSWERS: JSONL {"id": ..., "answer": ...}, one line per answer prompt, at the end;
- TUNESWEEP_CHECKPOINT_DIR: the trial's own folder; a `LAST_STEP` file there holds the last step
  saved (given back on a trial run again).

`TUNESWEEP_MAX_STEPS` and `TUNESWEEP_RUNG_STEPS` (a JSON list) repeat what config.json implies.
Prompts are shown through `data.prompt_template`. Exit status 0 means the command trained and
answered; anything else fails the trial, with the end of its output in the error. Reports reach
Ray Tune as their lines arrive; a trial the scheduler cuts has its process group killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesweep_evidence.documents import AcceleratorInfo
from tunesweep_evidence.training_config import CustomConfig

from .. import environment
from ..backend import BackendResult, Program, ProgressFn
from ..checkpointing import TrialState
from ..errors import TrialFailed
from . import checkpoints
from .examples import TrialExamples
from .reports import ReportChecks, answers

POLL_S = 0.2
"""How often the metrics file is read while the command runs."""
OUTPUT_TAIL = 2000
"""Characters of the command's output quoted when it fails."""


def backend(program: Program, checkpoint_dir: Path) -> CommandBackend:
    if not program.command:
        raise ValueError("backend command needs trainer.command (the program and its arguments)")
    return CommandBackend(program.command, checkpoint_dir)


@dataclass(frozen=True)
class CommandBackend:
    command: tuple[str, ...]
    checkpoint_dir: Path

    def prepare(self) -> AcceleratorInfo:
        return environment.jax_accelerator()

    def run(
        self, config: CustomConfig, on_progress: ProgressFn, rung_steps: Collection[int], state: TrialState
    ) -> BackendResult:
        """`state` is unused: a custom trainer keeps its own checkpoints (`checkpoint_dir`)."""
        examples = TrialExamples.load(config.data)
        reports = ReportChecks(config.training, rung_steps, examples, on_progress)
        work = Path(tempfile.mkdtemp(prefix="tunesweep-command-"))
        try:
            env = _inputs(work, config, examples, rung_steps, checkpoints.prepared(self.checkpoint_dir))
            self._run(env, work / "output.log", _Lines(Path(env["TUNESWEEP_METRICS"]), reports.report))
            steps_done = reports.finish()
            return examples.result(_answers(Path(env["TUNESWEEP_ANSWERS"])), steps_done)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, env: dict[str, str], log: Path, lines: _Lines) -> None:
        with log.open("wb") as output:
            try:
                process = subprocess.Popen(
                    self.command,
                    env={**os.environ, **env},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: a cut trial kills all of it
                )
            except OSError as error:
                raise TrialFailed(f"trainer.command {self.command[0]!r} cannot start: {error}") from None
            try:
                while True:
                    try:
                        code = process.wait(timeout=POLL_S)
                    except subprocess.TimeoutExpired:
                        lines.read()
                        continue
                    lines.read()
                    break
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        lines.finish()
        if code != 0:
            tail = log.read_text(errors="replace")[-OUTPUT_TAIL:]
            raise TrialFailed(f"trainer.command exited with status {code}; its output ends:\n{tail}")


class _Lines:
    """The metrics file as the command appends to it: each complete line, once, in order."""

    def __init__(
        self, path: Path, report: Callable[[Any, Mapping[str, Any], Mapping[str, Any] | None], None]
    ):
        self._path = path
        self._report = report
        self._offset = 0
        self._number = 0

    def read(self) -> None:
        if not self._path.exists():
            return
        with self._path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for raw in complete.splitlines():
            self._line(raw)

    def finish(self) -> None:
        """After the command exited: a last line without its newline counts too."""
        self.read()
        if self._path.exists():
            with self._path.open("rb") as file:
                file.seek(self._offset)
                rest = file.read()
            if rest.strip():
                self._offset += len(rest)
                self._line(rest)

    def _line(self, raw: bytes) -> None:
        self._number += 1
        if not raw.strip():
            return
        try:
            line = json.loads(raw)
        except ValueError as error:
            raise TrialFailed(f"TUNESWEEP_METRICS line {self._number}: not JSON ({error})") from None
        if not isinstance(line, dict) or "step" not in line:
            raise TrialFailed(f'TUNESWEEP_METRICS line {self._number}: expected {{"step": ..., "loss": ...}}')
        step = line.pop("step")
        rung_answers = line.pop("rung_answers", None)
        if rung_answers is not None and not isinstance(rung_answers, dict):
            raise TrialFailed(f"TUNESWEEP_METRICS line {self._number}: rung_answers is not {{id: answer}}")
        self._report(step, line, rung_answers)


def _inputs(
    work: Path,
    config: CustomConfig,
    examples: TrialExamples,
    rung_steps: Collection[int],
    checkpoint_dir: Path,
) -> dict[str, str]:
    """The input files written into `work`, and the environment that names every file."""
    files = {
        "TUNESWEEP_CONFIG": work / "config.json",
        "TUNESWEEP_TRAIN_EXAMPLES": work / "train_examples.jsonl",
        "TUNESWEEP_ANSWER_PROMPTS": work / "answer_prompts.jsonl",
        "TUNESWEEP_RUNG_PROMPTS": work / "rung_prompts.jsonl",
        "TUNESWEEP_METRICS": work / "metrics.jsonl",
        "TUNESWEEP_ANSWERS": work / "answers.jsonl",
    }
    files["TUNESWEEP_CONFIG"].write_text(json.dumps(config.model_dump(mode="json")))
    _write_jsonl(files["TUNESWEEP_TRAIN_EXAMPLES"], map(asdict, examples.train))
    _write_jsonl(files["TUNESWEEP_ANSWER_PROMPTS"], map(asdict, examples.answer_prompts))
    _write_jsonl(files["TUNESWEEP_RUNG_PROMPTS"], map(asdict, examples.rung_prompts))
    return {
        **{name: str(path) for name, path in files.items()},
        "TUNESWEEP_CHECKPOINT_DIR": str(checkpoint_dir),
        "TUNESWEEP_MAX_STEPS": str(config.training.max_steps),
        "TUNESWEEP_RUNG_STEPS": json.dumps(sorted(rung_steps)),
    }


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w") as file:
        file.writelines(json.dumps(row) + "\n" for row in rows)


def _answers(path: Path) -> dict[str, str]:
    if not path.exists():
        raise TrialFailed(
            "the command exited 0 but wrote no TUNESWEEP_ANSWERS file: write one {id, answer} per line"
        )
    found: dict[str, Any] = {}
    with path.open() as file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                found[row["id"]] = row["answer"]
            except (ValueError, KeyError, TypeError):
                raise TrialFailed(
                    f'TUNESWEEP_ANSWERS line {number}: expected {{"id": ..., "answer": ...}}, '
                    f"got {raw.strip()[:200]}"
                ) from None
    return answers(found, "TUNESWEEP_ANSWERS")
