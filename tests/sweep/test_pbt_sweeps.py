"""algorithm pbt through real Ray Tune: trials exploit better ones' checkpoints at perturbation steps,
record their lineage, and the winner's schedule of params is promoted; verify checks every source.

The mock trainer's state is what it has trained under (`mock.History`): a trial that goes on from
another's checkpoint inherits that trial's progress, as a real one inherits its weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket, layout, trial_checkpoints
from tunesweep_evidence.documents import BestParams, MetricsLine, RunManifest
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep.driver import EXIT_SUCCEEDED, drive

from tests.sweep.sweeps import frozen_plan, manifests, sweep_manifest

pytestmark = pytest.mark.usefixtures("local_ray")

LOW, HIGH = 1.0e-5, 1.0e-1


def pbt_sweep() -> dict[str, Any]:
    return sweep_manifest(
        trainer={
            "backend": "mock",
            "baseConfig": {"training": {"max_steps": 300, "report_every_steps": 50, "learning_rate": 1e-3}},
        },
        searchSpace={"training.learning_rate": {"loguniform": [LOW, HIGH]}},
        algorithm={"name": "pbt", "seed": 0, "perturbationInterval": 100, "quantileFraction": 0.5},
        trials={"count": 4, "parallel": 4, "maxFailed": 0, "timeoutSeconds": 120},
    )


def rung_scores(out: Path, trial_id: str) -> dict[int, float]:
    uri = layout.join(layout.trial_dir(str(out), trial_id), layout.METRICS)
    return {
        line.step: line.rung_score
        for line in bucket.read_jsonl(uri, MetricsLine)
        if line.rung_score is not None
    }


def history(out: Path, trial_id: str, folder: str) -> list[Any]:
    state = Path(layout.trial_dir(str(out), trial_id), folder, "state.json")
    return list(json.loads(state.read_text())["history"])


@pytest.fixture(scope="module")
def pbt_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pbt")
    assert drive(frozen_plan(out, pbt_sweep())).exit_code == EXIT_SUCCEEDED
    return out


def test_the_bottom_half_goes_on_from_the_top_half_at_each_perturbation_step(pbt_out: Path) -> None:
    runs = manifests(pbt_out)
    assert {m.status for m in runs.values()} == {"succeeded"}
    exploits = [(m, s) for m in runs.values() for s in m.segments if s.source is not None]
    # 4 trials, quantile 0.5: at steps 100 and 200 the 2 lowest went on from one of the 2 highest
    assert sorted(s.from_step for _, s in exploits) == [100, 100, 200, 200]
    for manifest, segment in exploits:
        source = segment.source
        assert source is not None and manifest.trial_id is not None
        assert source.trial_id != manifest.trial_id and source.step == segment.from_step
        # it copied a better trial: its donor's rung score at that step was at least its own
        assert (
            rung_scores(pbt_out, source.trial_id)[source.step]
            >= rung_scores(pbt_out, manifest.trial_id)[source.step]
        )
        # its state is the donor's (what the donor trained under), then its own new setting
        donor = history(pbt_out, source.trial_id, source.folder)
        index = manifest.segments.index(segment)
        own = trial_checkpoints.complete(layout.trial_dir(str(pbt_out), manifest.trial_id))
        after = next(r for r in own if r.segment == index and r.step > segment.from_step)
        assert history(pbt_out, manifest.trial_id, trial_checkpoints.folder_of(after))[: len(donor)] == donor
        assert LOW <= segment.params["training.learning_rate"] <= HIGH
    for manifest in runs.values():
        if manifest.segments:
            assert manifest.segments[-1].params == manifest.params
            assert all(a.after in (None, "stopped") for a in manifest.attempts)  # paused by PBT, never lost


def test_the_lineage_verifies_and_the_winner_s_schedule_is_promoted(pbt_out: Path) -> None:
    report = verify(str(pbt_out))
    assert report.ok, report.problems
    best = bucket.read_document(layout.join(str(pbt_out), layout.BEST_PARAMS), BestParams)
    winner = manifests(pbt_out)[best.trial_id]
    assert best.schedule == winner.segments and best.params == winner.params
    html = (pbt_out / layout.REPORT).read_text()
    assert "Population Based Training: who went on from whom" in html
    assert "Population Based Training: no trial is cut" in html and "No early stopping" not in html
    for manifest in manifests(pbt_out).values():
        for segment in manifest.segments[1:]:
            source = segment.source
            assert source is not None
            assert f"{manifest.trial_id} went on from {source.trial_id}'s step {source.step}" in html


def test_a_changed_source_checkpoint_breaks_the_lineage(pbt_out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(pbt_out, copy)
    manifest, segment = next((m, s) for m in manifests(copy).values() for s in m.segments if s.source)
    assert segment.source is not None
    record_path = Path(
        layout.trial_dir(str(copy), segment.source.trial_id), segment.source.folder, layout.CHECKPOINT_RECORD
    )
    record = json.loads(record_path.read_text())
    record["data_position"] += 1
    record_path.write_text(json.dumps(record))
    problems = verify(str(copy)).problems
    where = f"trials/{manifest.trial_id}/{layout.RUN_MANIFEST}"
    assert any(p.startswith(where) and "source checkpoint" in p and "sha256" in p for p in problems), problems


def test_a_manifest_whose_params_are_not_its_last_segment_s_is_named(pbt_out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(pbt_out, copy)
    trial_id, manifest = next((tid, m) for tid, m in manifests(copy).items() if m.segments)
    uri = layout.join(layout.trial_dir(str(copy), trial_id), layout.RUN_MANIFEST)
    bucket.write_document(uri, manifest.model_copy(update={"segments": manifest.segments[:1]}))
    problems = verify(str(copy)).problems
    assert f"trials/{trial_id}/run_manifest.json: params are not the last segment's params" in problems
    assert isinstance(manifest, RunManifest)
