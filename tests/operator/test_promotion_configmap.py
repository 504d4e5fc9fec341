"""The promoted ConfigMap (pure), checked against what promotion writes to the bucket."""

from __future__ import annotations

from pathlib import Path

from tunesweep_evidence import bucket
from tunesweep_evidence.documents import BestParams
from tunesweep_operator.promotion_configmap import build_config_map

from tests.operator.sweeps import sweep_manifest, sweep_model

BEST_PARAMS = BestParams.model_validate(
    {
        "sweep": {"name": "lr-sweep", "namespace": "team-a", "uid": "uid-1234"},
        "trial_id": "t0003",
        "run_id": "run-3",
        "params": {"training.learning_rate": 0.003, "training.per_device_batch_size": 8},
        "primary_score": 0.8125,
        "objective": {"metric": "primary_score", "mode": "max"},
        "mode": "production",
        "backend": "mock",
        "image": "trainer-cpu:1",
        "evidence_uri": "file:///e/team-a/lr-sweep/uid-1234",
        "promoted_at": "2026-01-01T00:00:00+00:00",
    }
)


def test_config_map(tmp_path: Path) -> None:
    sweep = sweep_model(sweep_manifest("lr-sweep", "file:///e"))
    cm = build_config_map(sweep, "lr-sweep-best", "training:\n  learning_rate: 0.003\n", BEST_PARAMS)
    assert cm["metadata"]["name"] == "lr-sweep-best" and cm["metadata"]["namespace"] == "team-a"
    assert cm["metadata"]["labels"]["tunesweep.dev/sweep-uid"] == "uid-1234"
    (owner,) = cm["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "TuningSweep",
        "lr-sweep",
        "uid-1234",
        True,
    )
    data = cm["data"]
    assert data["best_config.yaml"] == "training:\n  learning_rate: 0.003\n"
    assert data["primary_score"] == "0.8125"
    assert data["trial_id"] == "t0003" and data["sweep_uid"] == "uid-1234"
    assert data["evidence_uri"] == "file:///e/team-a/lr-sweep/uid-1234"
    # byte for byte the audit record promotion writes to the bucket
    bucket.write_document(str(tmp_path / "best_params.json"), BEST_PARAMS)
    assert data["best_params.json"] == (tmp_path / "best_params.json").read_text()
    assert all(isinstance(value, str) for value in data.values())


def test_unscored_smoke_promotion_says_null() -> None:
    sweep = sweep_model(sweep_manifest("lr-sweep", "file:///e", mode="smoke"))
    unscored = BEST_PARAMS.model_copy(update={"primary_score": None, "mode": "smoke"})
    assert build_config_map(sweep, "x", "", unscored)["data"]["primary_score"] == "null"
