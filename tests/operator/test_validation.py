"""Checks beyond the CRD schema, before anything is written (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from tunesweep_evidence.spec import Accelerator
from tunesweep_operator.settings import OperatorSettings
from tunesweep_operator.validation import InvalidSweep, parse_sweep, problems

from tests.operator.sweeps import sweep_manifest, sweep_model

TPU, V6E, V4 = "google.com/tpu", "tpu-v6e-slice", "tpu-v4-podslice"
SETTINGS = OperatorSettings(trainer_images={Accelerator.none: "trainer-cpu:1"})


def problems_of(settings: OperatorSettings = SETTINGS, **spec: Any) -> list[str]:
    return problems(sweep_model(sweep_manifest("s", "s3://evidence", **spec)), settings)


def test_a_good_sweep_has_no_problems() -> None:
    assert problems_of() == []


def test_every_problem_is_listed() -> None:
    found = problems_of(
        OperatorSettings(),
        evidence={"uri": "ftp://host/x"},
        trials={"count": 0, "parallel": 1},
        resources={"perTrial": {"accelerator": "google.com/tpu", "cpu": "lots"}},
    )
    assert len(found) == 5, found
    assert any("no default trainer image for accelerator 'google.com/tpu'" in p for p in found)
    assert any("unsupported scheme 'ftp'" in p for p in found)
    assert any("trials.count" in p for p in found)
    assert any("'lots' is not a CPU quantity" in p for p in found)
    assert any("resources.tpu (acceleratorType, topology) is required" in p for p in found)


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"perTrial": {"accelerator": "nvidia.com/gpu", "count": 0}}, "at least 1 GPU"),
        (
            {"perTrial": {"accelerator": TPU}, "tpu": {"acceleratorType": V6E, "topology": "3"}},
            "not like 2x2",
        ),
        (
            {"perTrial": {"accelerator": TPU}, "tpu": {"acceleratorType": V4, "topology": "1x1x2"}},
            "not a whole number of tpu-v4-podslice hosts",
        ),
        ({"tpu": {"acceleratorType": "tpu-v6e-slice", "topology": "2x2"}}, "is not google.com/tpu"),
        ({"workers": {"replicas": -1}}, "must not be negative"),
    ],
)
def test_resource_problems(resources: dict[str, Any], expected: str) -> None:
    settings = OperatorSettings(
        trainer_images={a: "img" for a in (Accelerator.none, Accelerator.nvidia_gpu, Accelerator.google_tpu)}
    )
    (found,) = problems_of(settings, resources=resources)
    assert expected in found


def test_evidence_uri_default_and_file_volume_root() -> None:
    assert "no default evidence location" in problems_of(evidence={"uri": ""})[0]
    with_default = OperatorSettings(trainer_images=SETTINGS.trainer_images, default_evidence_uri="s3://d")
    assert problems_of(with_default, evidence={"uri": ""}) == []
    shared = OperatorSettings(
        trainer_images=SETTINGS.trainer_images,
        file_evidence_volume={"persistentVolumeClaim": {"claimName": "ev"}},
        file_evidence_path="/evidence",
    )
    assert problems_of(shared, evidence={"uri": "file:///evidence/runs"}) == []
    (outside,) = problems_of(shared, evidence={"uri": "file:///evidence-other/runs"})
    assert "not below /evidence" in outside


def test_parse_sweep_lists_schema_problems() -> None:
    body = sweep_manifest("s", "s3://e", trials={"count": "many"})
    body["metadata"].update(namespace="ns", uid="u", managedFields=[{"manager": "kubectl"}])
    body["status"] = {"phase": "Running"}
    with pytest.raises(InvalidSweep) as caught:
        parse_sweep(body)
    assert any(p.startswith("spec.trials.count") for p in caught.value.problems)
    del body["spec"]["trials"]
    assert parse_sweep(body).metadata.uid == "u"
