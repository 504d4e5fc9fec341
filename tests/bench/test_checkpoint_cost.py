"""The checkpoint benchmark (bench/checkpoint_cost.py): its figures from evidence, and one run end to
end on a tiny Gemma (real trial processes, two of them killed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tunesweep_evidence.documents import CheckpointRef, MetricsLine

from bench import checkpoint_cost
from bench.checkpoint_cost import Restart, Run

PREDICTIONS = ["ANSWER 4"]


def run(
    elapsed: list[float],
    wall_s: float = 10.0,
    resumed_from: int = 0,
    checkpoints: tuple[CheckpointRef, ...] = (),
    predictions: list[str] | None = PREDICTIONS,
    score: float | None = 0.5,
    loss_at_20: float = 0.5,
) -> Run:
    """A trial start that reported every 10 steps at these seconds."""
    losses = {20: loss_at_20}
    return Run(
        folder=Path("trial"),
        wall_s=wall_s,
        resumed_from=resumed_from,
        lines=[
            MetricsLine(step=step, elapsed_s=s, loss=losses.get(step, 1.0 / step))
            for step, s in zip(range(10, 10 * len(elapsed) + 1, 10), elapsed, strict=True)
        ],
        checkpoints=list(checkpoints),
        predictions=predictions,
        score=score,
    )


def test_a_checkpoint_costs_what_its_local_save_and_its_upload_add_to_the_report_intervals() -> None:
    kept = tuple(
        CheckpointRef(step=step, folder=f"checkpoints/{step}", bytes=size, save_s=0.25)
        for step, size in ((40, 1000), (60, 3000))
    )
    # saves at 20, 40, 60: 1 s of steps per interval, 0.5 s more in those ending at a save (the local
    # save), 0.25 s more in those after one (the upload); the last one slowed by load elsewhere
    saved = run([1.0, 2.5, 3.75, 5.25, 6.5, 9.5], wall_s=24.0, checkpoints=kept)
    assert checkpoint_cost.report_intervals(saved, 10) == [
        (10, 20, 1.5),
        (20, 30, 1.25),
        (30, 40, 1.5),
        (40, 50, 1.25),
        (50, 60, 3.0),
    ]
    cost = checkpoint_cost.cost(saved, plain_wall_s=20.0, max_steps=60, report_every=10)
    assert (cost.local_s, cost.upload_s, cost.per_checkpoint_s, cost.step_s) == (0.5, 0.25, 0.75, 0.1)
    assert (cost.bytes, cost.wall_ratio) == (2000, 1.2)
    assert cost.share == pytest.approx(6 * 0.75 / 20.0)  # a checkpoint at each of the 6 report steps


def test_a_restart_trains_again_the_steps_after_the_checkpoint_it_resumes_from() -> None:
    lost = run([1.0, 2.0, 3.0, 4.0], wall_s=4.0)  # killed in the report of step 40
    again = run([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], wall_s=3.0, resumed_from=30)
    restart = checkpoint_cost.restart(lost, again, max_steps=60)
    assert restart == Restart(lost_at=40, resumed_from=30, max_steps=60, lost_s=4.0, again_s=3.0)
    assert (restart.steps_trained, restart.steps_lost, restart.wall_s) == (70, 10, 7.0)
    from_scratch = checkpoint_cost.restart(lost, run([1.0] * 6), max_steps=60)
    assert (from_scratch.steps_trained, from_scratch.steps_lost) == (100, 40)


def test_the_same_ending_is_every_reported_loss_the_predictions_and_the_score() -> None:
    reference = run([1.0, 2.0, 3.0])
    assert checkpoint_cost.same_ending(run([5.0, 6.0, 7.0], resumed_from=20), reference)  # seconds differ
    for different in (
        run([1.0, 2.0, 3.0], loss_at_20=0.25),
        run([1.0, 2.0, 3.0], predictions=["ANSWER 5"]),
        run([1.0, 2.0, 3.0], score=0.0),
        run([1.0, 2.0, 3.0], predictions=None, score=None),  # killed: never evaluated
    ):
        assert not checkpoint_cost.same_ending(different, reference)


def test_the_steps_leave_a_kill_and_the_intervals_that_price_a_checkpoint() -> None:
    assert checkpoint_cost.kill_step(60, 10, 0.7) == 40
    assert checkpoint_cost.kill_step(15, 5, 0.7) == 10
    with pytest.raises(SystemExit, match=r"--kill-at 0.7 of --steps 10 is on no report step \(every 10\)"):
        checkpoint_cost.kill_step(10, 10, 0.7)
    with pytest.raises(SystemExit, match="--fine-tunes: unknown qlora; use lora, full or lora,full"):
        checkpoint_cost.main(["--fine-tunes", "lora,qlora"])
    with pytest.raises(SystemExit, match="--steps 20 is under 3 x --report-every 10: a checkpoint is priced"):
        checkpoint_cost.main(["--steps", "20"])


def test_a_killed_lora_trial_resumed_from_its_checkpoint_trains_at_most_one_interval_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    size = ["--layers", "1", "--embed-dim", "64", "--vocab", "256", "--steps", "15", "--report-every", "5"]
    checkpoint_cost.main([*size, "--fine-tunes", "lora"])
    out = capsys.readouterr().out
    assert "on the CPU with a tiny model: python -m bench.checkpoint_cost --layers 1" in out
    assert "lora fine-tune" in out and "full fine-tune" not in out
    checkpoint = re.search(r"per checkpoint  ([\d.]+) MB, .* \+ ([\d.]+) s upload", out)
    assert checkpoint is not None and float(checkpoint[1]) > 0 and float(checkpoint[2]) > 0
    assert "killed inside the report of step 10 of 15 and started again" in out
    restart = r"keep=(\d+): resumed from step (\d+), (\d+) steps trained \(x[\d.]+\), (\d+) lost"
    restarts = {int(keep): tuple(map(int, found)) for keep, *found in re.findall(restart, out)}
    # without checkpoints all 10 steps again; with them, from a checkpoint at most one report before
    assert restarts[0] == (0, 25, 10)
    resumed_from, trained, lost = restarts[2]
    assert 10 - 5 <= resumed_from <= 10 and trained == 10 + 15 - resumed_from and lost == 10 - resumed_from
    assert "run again True, resumed True" in out
