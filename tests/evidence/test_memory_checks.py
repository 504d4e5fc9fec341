"""The device-memory forecast of every trial shape, and the refusals and warnings it gives
`tunesweep validate` (and, through the spec models, the operator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tunesweep_evidence import memory_checks
from tunesweep_evidence.cli import main
from tunesweep_evidence.device_memory import GPU_DEVICE_GIB
from tunesweep_evidence.memory_forecast import ARCHITECTURES, forecast
from tunesweep_evidence.sweep_manifest import SpecError, parse_sweep
from tunesweep_evidence.training_config import TrainingConfig

from tests.spec.cases import at, with_edits

GEMMA_2B = {"name": "gemma-2b", "checkpoint": "gs://models/gemma-2b"}
V5E_HOST = {
    "perTrial": {"accelerator": "google.com/tpu", "count": 1, "cpu": "4", "memory": "16Gi"},
    "tpu": {"acceleratorType": "tpu-v5-lite-podslice", "topology": "1x1"},
}
L4 = {
    "perTrial": {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "4", "memory": "32Gi"},
    "workers": {"nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4"}},
}


def flax_sweep(model: dict[str, Any], resources: dict[str, Any], **search: Any) -> dict[str, Any]:
    space = {"training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]}, **search}
    return with_edits(
        at("spec.trainer", backend="flax-lm", baseConfig={"model": model, "training": {"max_steps": 100}}),
        at("spec", searchSpace=space, resources=resources),
    )


def problems(manifest: dict[str, Any]) -> list[str]:
    try:
        parse_sweep(manifest)
    except SpecError as error:
        return [f"{p.path}: {p.message}" for p in error.problems]
    return []


def test_the_forecast_grows_with_every_shape_dimension() -> None:
    def peak(**model: Any) -> int:
        batch = model.pop("batch", 8)
        config = {"model": {**GEMMA_2B, **model}, "training": {"per_device_batch_size": batch}}
        return forecast(TrainingConfig.model_validate(config)).peak

    assert peak(batch=4) < peak(batch=8) < peak(batch=16)
    assert peak(max_length=64) < peak(max_length=128) < peak(max_length=1024)
    assert peak(lora={"rank": 4}) < peak(lora={"rank": 64}) < peak()
    assert peak(dtype="bfloat16", lora={"rank": 8}) < peak(dtype="float32", lora={"rank": 8})
    # full fine-tuning: bfloat16 weights, but float32 master weights and moments beside them
    assert peak(dtype="bfloat16") > peak(dtype="float32")


def test_full_fine_tuning_of_gemma_2b_on_a_16_gib_tpu_is_refused_with_the_fixes() -> None:
    (problem,) = problems(flax_sweep(GEMMA_2B, V5E_HOST))
    assert problem.startswith(
        "spec.trainer.baseConfig.model: the trial shape model.name gemma-2b, model.dtype float32, full "
        "fine-tuning, training.per_device_batch_size 32, model.max_length 64 needs about "
    ), problem
    assert problem.endswith(
        "more than one tpu-v5-lite-podslice device (16 GiB) holds: lower training.per_device_batch_size "
        "or model.max_length, train LoRA adapters (model.lora) instead of every weight, use model.dtype "
        "bfloat16, or give each trial more devices or choose an accelerator with more memory per device"
    ), problem
    lora = {**GEMMA_2B, "dtype": "bfloat16", "lora": {"rank": 16}}
    assert (
        problems(flax_sweep(lora, V5E_HOST, **{"training.per_device_batch_size": {"choice": [1, 2]}})) == []
    )


def test_the_largest_searched_shape_decides_and_is_named() -> None:
    lora = {**GEMMA_2B, "dtype": "bfloat16", "lora": {"rank": 16}}
    manifest = flax_sweep(
        lora,
        V5E_HOST,
        **{"training.per_device_batch_size": {"randint": [1, 257]}, "model.lora.rank": {"choice": [4, 8]}},
    )
    (problem,) = problems(manifest)
    assert problem.startswith(
        'spec.searchSpace["training.per_device_batch_size"]: the trial shape model.name gemma-2b, '
        "model.dtype bfloat16, LoRA rank 8, training.per_device_batch_size 256, model.max_length 64 "
        "needs about "
    ), problem
    assert "train LoRA adapters" not in problem and "use model.dtype bfloat16" not in problem


def test_a_shape_near_the_limit_warns_in_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    limit = GPU_DEVICE_GIB["nvidia-l4"] * 2**30
    model = {**GEMMA_2B, "dtype": "bfloat16", "lora": {"rank": 8}}

    def peak(batch: int) -> int:
        config = {"model": model, "training": {"per_device_batch_size": batch}}
        return forecast(TrainingConfig.model_validate(config)).peak

    near = next(b for b in range(1, 64) if memory_checks.NEAR_LIMIT * limit < peak(b) <= limit)
    manifest = flax_sweep(model, L4, **{"training.per_device_batch_size": {"choice": [1, near]}})
    path = tmp_path / "near.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert main(["validate", str(path)]) == 0
    warning, ok = capsys.readouterr().out.splitlines()
    assert warning.startswith(
        f'{path}: warning: spec.searchSpace["training.per_device_batch_size"]: the trial shape model.name '
        f"gemma-2b, model.dtype bfloat16, LoRA rank 8, training.per_device_batch_size {near}, "
        "model.max_length 64 may not fit: it needs about "
    ), warning
    assert f"{peak(near) / limit:.0%} of one nvidia-l4 GPU (22 GiB)" in warning
    assert ok == f"{path}: ok"


def test_a_too_large_shape_fails_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(flax_sweep(GEMMA_2B, L4)))
    assert main(["validate", str(path)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}: spec.trainer.baseConfig.model: the trial shape model.name gemma-2b")
    assert "more than one nvidia-l4 GPU (22 GiB) holds" in line


def test_a_trial_sharded_over_its_devices_divides_weights_and_optimizer_state() -> None:
    config = TrainingConfig.model_validate({"model": GEMMA_2B, "training": {"per_device_batch_size": 4}})
    one, four = forecast(config), forecast(config, devices=4)
    assert four.weights == -(-one.weights // 4) and four.optimizer_state == -(-one.optimizer_state // 4)
    assert four.evaluation == one.evaluation
    # float32 full fine-tuning: gradients and updated copy, 2 x 4 bytes a parameter, split; the
    # activations of each device's batch whole; the embedding (gemma-2b's largest weight) gathered whole
    arch = ARCHITECTURES["gemma-2b"]
    split = 2 * 4 * arch.parameters
    activations = one.train_step - split
    assert four.train_step == -(-split // 4) + 4 * arch.embedding_parameters + activations


def test_full_fine_tuning_refused_on_one_gpu_fits_sharded_over_four() -> None:
    batch = {"training.per_device_batch_size": {"choice": [4]}}
    (problem,) = problems(flax_sweep(GEMMA_2B, L4, **batch))
    assert "more than one nvidia-l4 GPU (22 GiB) holds" in problem, problem
    four_l4 = {**L4, "perTrial": {**L4["perTrial"], "count": 4}}
    assert problems(flax_sweep(GEMMA_2B, four_l4, **batch)) == []
    assert parse_sweep(flax_sweep(GEMMA_2B, four_l4, **batch)).spec.warnings() == []
    (problem,) = problems(
        flax_sweep(GEMMA_2B, four_l4, **{"training.per_device_batch_size": {"choice": [64]}})
    )
    assert "more than each of the trial's 4 nvidia-l4 GPUs (22 GiB) holds" in problem, problem


def test_a_cpu_trial_is_held_to_its_memory() -> None:
    cpu = {"perTrial": {"cpu": "1", "memory": "16Mi"}}
    (problem,) = problems(flax_sweep({"name": "tiny"}, cpu))
    assert "more than perTrial.memory (16Mi) of a CPU trial holds" in problem, problem
    assert problems(flax_sweep({"name": "tiny"}, {"perTrial": {"cpu": "1", "memory": "1Gi"}})) == []


def test_no_forecast_without_a_known_device_or_for_other_backends() -> None:
    unlabelled_gpu = {"perTrial": {"accelerator": "nvidia.com/gpu", "count": 1, "cpu": "4", "memory": "32Gi"}}
    assert problems(flax_sweep(GEMMA_2B, unlabelled_gpu)) == []
    assert parse_sweep(flax_sweep(GEMMA_2B, unlabelled_gpu)).spec.warnings() == []
    mock = with_edits(at("spec.resources", perTrial={"cpu": "1", "memory": "1Mi"}))
    assert problems(mock) == []
