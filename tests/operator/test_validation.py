"""Checks beyond the CRD schema, before anything is written (pure)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence import bucket
from tunesweep_evidence.spec import OBJECTIVE_MESSAGE, Accelerator
from tunesweep_operator.settings import OperatorSettings
from tunesweep_operator.validation import InvalidSweep, parse_sweep, problems, unshared_file_evidence

from tests.operator.cluster import Cluster, condition
from tests.operator.conftest import StartOperator
from tests.operator.sweeps import sweep_manifest, sweep_model
from tests.operator.test_sweep_lifecycle import apply

TPU, V4 = "google.com/tpu", "tpu-v4-podslice"
ALL_IMAGES = OperatorSettings(
    trainer_images={a: "img" for a in (Accelerator.none, Accelerator.nvidia_gpu, Accelerator.google_tpu)}
)


def problems_of(settings: OperatorSettings = ALL_IMAGES, **spec: Any) -> list[str]:
    return problems(sweep_model(sweep_manifest("s", "s3://evidence", **spec)), settings)


def test_a_good_sweep_has_no_problems() -> None:
    assert problems_of() == []


def test_every_problem_is_listed() -> None:
    found = problems_of(
        OperatorSettings(),
        evidence={"uri": ""},
        resources={
            "perTrial": {"accelerator": TPU, "count": 4},
            "tpu": {"acceleratorType": "tpu-v6e-slice", "topology": "2x2"},
        },
    )
    assert len(found) == 2, found
    (image,) = [p for p in found if "trainer image" in p]
    assert "no default tpu trainer image (the trials' accelerator is 'google.com/tpu')" in image, image
    assert "set spec.trainer.image, or give the operator one with TUNESWEEP_TRAINER_IMAGE_TPU" in image
    assert "(Helm: trainer.images.tpu)" in image
    assert any("no default evidence location" in p for p in found)


def test_shapes_that_can_never_run_are_refused_by_the_spec_models() -> None:
    manifest = sweep_manifest(
        "s",
        "s3://evidence",
        resources={
            "perTrial": {"accelerator": TPU, "count": 16},
            "tpu": {"acceleratorType": V4, "topology": "2x2x4"},
        },
    )
    manifest["metadata"].update(namespace="ns", uid="u")
    with pytest.raises(InvalidSweep) as caught:
        parse_sweep(manifest)
    (problem,) = caught.value.problems
    assert problem.startswith("spec.resources.tpu.topology: 2x2x4 is a multi-host tpu-v4-podslice slice")


def test_a_derived_name_too_long_for_kubernetes_is_refused_at_start() -> None:
    manifest = sweep_manifest("s" * 253, "s3://evidence")
    (problem,) = problems(sweep_model(manifest), ALL_IMAGES)
    assert problem.startswith("promotion.configMapName: the default ConfigMap name")
    assert "is 258 characters, more than Kubernetes allows (253); set promotion.configMapName" in problem
    named = sweep_manifest("s" * 253, "s3://evidence", promotion={"configMapName": "short"})
    assert problems(sweep_model(named), ALL_IMAGES) == []


def test_evidence_defaults_and_the_shared_file_volume() -> None:
    with_default = OperatorSettings(
        trainer_images=ALL_IMAGES.trainer_images, default_evidence_uri="s3://dflt"
    )
    assert problems_of(with_default, evidence={"uri": ""}) == []
    bad_default = OperatorSettings(trainer_images=ALL_IMAGES.trainer_images, default_evidence_uri="ftp://x")
    (found,) = problems_of(bad_default, evidence={"uri": ""})
    assert "unsupported scheme 'ftp'" in found
    shared = OperatorSettings(
        trainer_images=ALL_IMAGES.trainer_images,
        file_evidence_volume={"persistentVolumeClaim": {"claimName": "ev"}},
        file_evidence_path="/evidence",
    )
    assert problems_of(shared, evidence={"uri": "file:///evidence/runs"}) == []
    (outside,) = problems_of(shared, evidence={"uri": "file:///evidence-other/runs"})
    assert "not below /evidence" in outside


def test_a_cpu_sweep_without_an_image_names_the_cpu_setting() -> None:
    (problem,) = problems_of(OperatorSettings(), resources={"perTrial": {"cpu": "1", "memory": "1Gi"}})
    assert "no default cpu trainer image (the trials' accelerator is 'none')" in problem, problem
    assert "TUNESWEEP_TRAINER_IMAGE_CPU (Helm: trainer.images.cpu)" in problem


def test_file_evidence_needs_a_volume_shared_with_the_ray_pods() -> None:
    refused = unshared_file_evidence("file:///tmp/evidence", OperatorSettings())
    assert refused is not None
    assert refused.startswith("evidence.uri 'file:///tmp/evidence' is a file:// location, but the operator")
    for fix in ("s3:// or gs://", "evidence.defaultUri", "evidence.fileVolume", "evidence.filePath"):
        assert fix in refused, refused
    shared = OperatorSettings(file_evidence_volume={"persistentVolumeClaim": {"claimName": "ev"}})
    assert unshared_file_evidence("file:///evidence/runs", shared) is None
    assert unshared_file_evidence("file:///tmp/e", OperatorSettings(file_evidence_node_local=True)) is None
    assert unshared_file_evidence("s3://bucket/runs", OperatorSettings()) is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"trials": {"count": 0}}, "spec.trials.count: Input should be greater than or equal to 1"),
        ({"searchSpace": {"training.no_such_knob": {"choice": [1]}}}, 'spec.searchSpace["training.no_such'),
        (
            {"searchSpace": {"data.seed": {"choice": [0, 1]}}},
            'spec.searchSpace["data.seed"]: the evaluation protocol is fixed for a sweep',
        ),
        ({"objective": {"metric": "loss"}}, f"spec.objective.metric: {OBJECTIVE_MESSAGE}"),
        (
            {"earlyStopping": {"name": "asha", "gracePeriod": 40}},
            "spec.earlyStopping.gracePeriod: earlyStopping.gracePeriod 40 is not below the longest trial",
        ),
    ],
)
def test_parse_sweep_runs_the_spec_models_rules(spec: dict[str, Any], expected: str) -> None:
    body = sweep_manifest("s", "s3://evidence", **spec)
    body["metadata"].update(namespace="ns", uid="u", managedFields=[{"manager": "kubectl"}])
    body["status"] = {"phase": "Running"}
    with pytest.raises(InvalidSweep) as caught:
        parse_sweep(body)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_parse_sweep_ignores_status_and_metadata_it_does_not_read() -> None:
    body = sweep_manifest("s", "s3://evidence")
    body["metadata"].update(namespace="ns", uid="u", managedFields=[{"manager": "kubectl"}])
    body["status"] = {"phase": "Running"}
    assert parse_sweep(body).metadata.uid == "u"


def test_evidence_outside_the_allowed_prefixes_is_refused() -> None:
    prefixes = OperatorSettings(
        trainer_images=ALL_IMAGES.trainer_images,
        evidence_allowed_prefixes=("s3://evidence/{namespace}/", "gs://shared/{namespace}"),
    )
    assert problems_of(prefixes, evidence={"uri": "s3://evidence/team-a"}) == []  # sweep_model: team-a
    assert problems_of(prefixes, evidence={"uri": "s3://evidence"}) == []  # writes <uri>/team-a/s/uid-1234
    (other,) = problems_of(prefixes, evidence={"uri": "s3://evidence/team-b"})
    assert other == (
        "spec.evidence.uri: the sweep's evidence folder s3://evidence/team-b/team-a/s/uid-1234 is not under "
        "an evidence prefix the operator allows for namespace team-a: s3://evidence/team-a, "
        "gs://shared/team-a; set spec.evidence.uri below one of them, or leave it empty for the "
        "operator's default"
    )
    (bucket_,) = problems_of(prefixes, evidence={"uri": "s3://attackers-bucket"})
    assert "s3://attackers-bucket/team-a/s/uid-1234 is not under" in bucket_


def warm_started(uri: str) -> dict[str, Any]:
    return {
        "algorithm": {"name": "tpe"},
        "warmStart": [{"sweep": "earlier"}, {"evidenceURI": uri}],
    }


def test_warm_start_evidence_outside_the_namespaces_prefixes_is_refused() -> None:
    prefixes = OperatorSettings(
        trainer_images=ALL_IMAGES.trainer_images, evidence_allowed_prefixes=("s3://evidence/{namespace}/",)
    )
    assert problems_of(prefixes, **warm_started("s3://evidence/team-a/earlier/uid-1")) == []
    (other,) = problems_of(prefixes, **warm_started("s3://evidence/team-b/theirs/uid-9"))
    assert other == (
        "spec.warmStart[1].evidenceURI: s3://evidence/team-b/theirs/uid-9 is not under an evidence prefix "
        "the operator allows for namespace team-a: s3://evidence/team-a; warm-start from a sweep of this "
        "namespace (warmStart[].sweep), or from evidence below one of those prefixes"
    )
    # No prefixes configured: the operator may write anywhere, so it may read anywhere too.
    assert problems_of(**warm_started("s3://evidence/team-b/theirs/uid-9")) == []


def test_file_warm_start_evidence_must_be_on_the_volume_shared_with_the_ray_pods() -> None:
    shared = OperatorSettings(
        trainer_images=ALL_IMAGES.trainer_images,
        file_evidence_volume={"persistentVolumeClaim": {"claimName": "evidence"}},
        file_evidence_path="/evidence",
    )
    assert problems_of(shared, **warm_started("file:///evidence/team-a/earlier/uid-1")) == []
    (outside,) = problems_of(shared, **warm_started("file:///home/me/runs/earlier"))
    assert outside.startswith("spec.warmStart[1].evidenceURI: 'file:///home/me/runs/earlier' is not below")


def test_the_default_prefix_is_the_default_uri_per_namespace() -> None:
    settings = OperatorSettings(trainer_images=ALL_IMAGES.trainer_images, default_evidence_uri="s3://dflt/x")
    assert settings.allowed_evidence_prefixes() == ("s3://dflt/x/{namespace}/",)
    assert problems_of(settings, evidence={"uri": ""}) == []
    assert problems_of(settings, evidence={"uri": "s3://dflt/x/team-a"}) == []
    (elsewhere,) = problems_of(settings, evidence={"uri": "s3://other-bucket"})
    assert "allows for namespace team-a: s3://dflt/x/team-a;" in elsewhere
    assert OperatorSettings().allowed_evidence_prefixes() is None  # nothing configured: anywhere


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_the_operator_refuses_evidence_outside_its_allowed_prefixes(
    start_operator: StartOperator, cluster: Cluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    start_operator(TUNESWEEP_EVIDENCE_ALLOWED_PREFIXES=f"file://{tmp_path}/allowed/{{namespace}}/")
    elsewhere = f"file://{tmp_path}/elsewhere"
    apply(kubectl, namespace, sweep_manifest("outside", elsewhere), tmp_path)
    status = cluster.wait_for_phase("outside", "Failed", timeout=60)
    failed = condition(status, "Failed")
    assert failed["reason"] == "InvalidSpec", failed
    message = failed["message"]
    assert "spec.evidence.uri: the sweep's evidence folder" in message, message
    assert f"allows for namespace {namespace}: file://{tmp_path}/allowed/{namespace};" in message, message
    assert cluster.rayjobs() == []
    assert not bucket.exists(elsewhere)  # nothing written


def test_a_trial_shape_too_large_for_its_device_is_refused_by_the_spec_models() -> None:
    manifest = sweep_manifest(
        "s",
        "s3://evidence",
        trainer={"backend": "flax-lm", "baseConfig": {"model": {"name": "gemma-2b", "checkpoint": "/m"}}},
        resources={
            "perTrial": {"accelerator": TPU, "count": 1},
            "tpu": {"acceleratorType": "tpu-v5-lite-podslice", "topology": "1x1"},
        },
    )
    with pytest.raises(InvalidSweep) as caught:
        parse_sweep(manifest)
    (problem,) = caught.value.problems
    # the sweep searches per_device_batch_size (4, 8): the larger shape is the one named
    assert problem.startswith(
        'spec.searchSpace["training.per_device_batch_size"]: the trial shape model.name gemma-2b, '
        "model.dtype float32, full fine-tuning, training.per_device_batch_size 8, model.max_length 64 "
        "needs about "
    ), problem
    assert "more than one tpu-v5-lite-podslice device (16 GiB) holds" in problem, problem
