"""Does every trial shape of a `flax-lm` sweep fit the memory of the device it runs on? Pure.

A trial shape is the base config with one value of each searched path that changes memory
(`SHAPE_PATHS`, or a section holding one), in every combination: every choice or grid value of
model.name, model.dtype or a section; of batch size, max_length and LoRA rank only the largest
value (the forecast grows with each, see `memory_forecast`; randint: its high - 1), so a sweep has
few shapes to forecast. The largest forecast, per device of a trial sharded over all its devices
(`perTrial.count` GPUs, or the TPU chips of its host), is checked against one device of the trial's
accelerator (`device_memory`), or against `perTrial.memory` for a CPU trial (one JAX device):

- refused (`violations`) when even the forecast's most pessimistic reading (its value divided by the
  top of `XLA_TOLERANCE`) is over the limit: that shape cannot fit;
- a warning (`warnings`) when the forecast is over `NEAR_LIMIT` of it: it may not fit.

An accelerator whose memory the table does not know (a GPU without a model label, tpu7x) gets
neither. The mock and custom backends are not forecast.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .device_memory import gpu_device_gib, tpu_device_gib
from .memory_forecast import XLA_TOLERANCE, Forecast, forecast, gib
from .placement import K8S_GPU, K8S_TPU
from .quantity import parse_quantity
from .spec_rules import FieldPath, Violation
from .training_config import TrainingConfig
from .trial_config import ConfigFoldError, fold_params

if TYPE_CHECKING:  # spec.py imports this module for its rules
    from .spec import SearchDimension, TuningSweepSpec

GROWING_PATHS = ("model.max_length", "model.lora.rank", "training.per_device_batch_size")
"""The forecast grows with each: only a dimension's largest value can be the largest shape."""
SHAPE_PATHS = ("model.name", "model.dtype", *GROWING_PATHS)
FIX_ORDER = (
    "training.per_device_batch_size",
    "model.max_length",
    "model.lora.rank",
    "model.dtype",
    "model.name",
)
NEAR_LIMIT = 0.9
FORECAST_BACKEND = "flax-lm"


@dataclass(frozen=True)
class DeviceLimit:
    what: str
    """The device, as the message names it."""
    size: float
    """Bytes."""
    devices: int = 1
    """The trial's devices, over which it shards weights and optimizer state."""


@dataclass(frozen=True)
class TrialShape:
    searched: dict[str, Any]
    """The searched paths that set this shape, with their values."""
    config: TrainingConfig
    forecast: Forecast
    devices: int
    """The trial's devices the forecast is per device of."""

    def describe(self) -> str:
        model = self.config.model
        tuning = "full fine-tuning" if model.lora is None else f"LoRA rank {model.lora.rank}"
        return (
            f"model.name {model.name}, model.dtype {model.dtype}, {tuning}, training.per_device_batch_size "
            f"{self.config.training.per_device_batch_size}, model.max_length {model.max_length}"
        )


def violations(spec: TuningSweepSpec) -> list[Violation]:
    fit = _largest_against_limit(spec)
    if fit is None:
        return []
    shape, limit = fit
    if shape.forecast.peak / XLA_TOLERANCE[1] <= limit.size:
        return []
    return [
        Violation(
            _field(shape),
            f"the trial shape {shape.describe()} needs about {gib(shape.forecast.peak)} "
            f"({shape.forecast.parts()}), more than {limit.what} holds: {_fixes(shape)}",
        )
    ]


def warnings(spec: TuningSweepSpec) -> list[tuple[FieldPath, str]]:
    fit = _largest_against_limit(spec)
    if fit is None:
        return []
    shape, limit = fit
    if shape.forecast.peak <= NEAR_LIMIT * limit.size:
        return []
    return [
        (
            _field(shape),
            f"the trial shape {shape.describe()} may not fit: it needs about {gib(shape.forecast.peak)} "
            f"({shape.forecast.parts()}), {shape.forecast.peak / limit.size:.0%} of {limit.what}; "
            f"to be safe: {_fixes(shape)}",
        )
    ]


def device_limit(spec: TuningSweepSpec) -> DeviceLimit | None:
    """The memory one trial runs in; None when the tables do not know it."""
    resources = spec.resources
    accelerator = resources.per_trial.accelerator
    # the trial's devices, as placement grants them (`placement.trial_request`); placement refuses
    # a GPU trial with none and a TPU count other than its host's chips
    count = max(1, resources.per_trial.count)
    if accelerator == K8S_TPU and resources.tpu is not None:
        tpu = resources.tpu
        size = tpu_device_gib(tpu.accelerator_type)
        if size is None:
            return None
        # v3 shows each chip as two devices: counting chips errs high, per device.
        return DeviceLimit(_each(count, f"{tpu.accelerator_type} device", size), size * 2**30, count)
    if accelerator == K8S_GPU:
        gpu = gpu_device_gib(resources.workers.node_selector)
        if gpu is None:
            return None
        return DeviceLimit(_each(count, f"{gpu[0]} GPU", gpu[1]), gpu[1] * 2**30, count)
    memory = resources.per_trial.memory
    return DeviceLimit(f"perTrial.memory ({memory}) of a CPU trial", float(parse_quantity(memory)))


def _each(count: int, device: str, gib: float) -> str:
    return (
        f"one {device} ({gib:g} GiB)"
        if count == 1
        else f"each of the trial's {count} {device}s ({gib:g} GiB)"
    )


def trial_shapes(
    backend: str,
    base_config: Mapping[str, Any],
    search_space: Mapping[str, SearchDimension],
    devices: int = 1,
) -> Iterator[TrialShape]:
    """Every valid trial shape of a `flax-lm` sweep (invalid configs are refused elsewhere), forecast
    per device of a trial on `devices` devices."""
    if backend != FORECAST_BACKEND:
        return
    searched = {path: _candidates(path, dim) for path, dim in search_space.items() if _changes_shape(path)}
    for values in itertools.product(*searched.values()):
        chosen = dict(zip(searched, values, strict=True))
        try:
            config = TrainingConfig.model_validate(fold_params(base_config, chosen))
        except (ValidationError, ConfigFoldError):
            continue
        yield TrialShape(chosen, config, forecast(config, devices=devices), devices)


def _largest_against_limit(spec: TuningSweepSpec) -> tuple[TrialShape, DeviceLimit] | None:
    limit = device_limit(spec)
    if limit is None:
        return None
    shapes = trial_shapes(spec.trainer.backend, spec.trainer.base_config, spec.search_space, limit.devices)
    largest = max(shapes, key=lambda shape: shape.forecast.peak, default=None)
    return None if largest is None else (largest, limit)


def _changes_shape(path: str) -> bool:
    return any(path == p or p.startswith(f"{path}.") or path.startswith(f"{p}.") for p in SHAPE_PATHS)


def _candidates(path: str, dimension: SearchDimension) -> list[Any]:
    """The values of a dimension that can make the largest shape (a range's last value is sampled)."""
    kind = dimension.kind()
    values = list(dimension.distributions()[kind] or [])
    if kind == "randint":
        values = [values[1] - 1]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return [max(values)] if path in GROWING_PATHS and numbers else values


def _field(shape: TrialShape) -> FieldPath:
    """The searched path the fixes name first (a section holding one last): never the spec's key
    order, which the API server does not keep."""
    if not shape.searched:
        return ("trainer", "baseConfig", "model")

    def named_first(path: str) -> tuple[int, str]:
        return (FIX_ORDER.index(path) if path in FIX_ORDER else len(FIX_ORDER), path)

    return ("searchSpace", min(shape.searched, key=named_first))


def _fixes(shape: TrialShape) -> str:
    model = shape.config.model
    fixes = ["lower training.per_device_batch_size or model.max_length"]
    if model.lora is None:
        fixes.append("train LoRA adapters (model.lora) instead of every weight")
    if model.dtype == "float32" and _bfloat16_is_smaller(shape):
        fixes.append("use model.dtype bfloat16")
    fixes.append("give each trial more devices or choose an accelerator with more memory per device")
    return ", ".join(fixes[:-1]) + f", or {fixes[-1]}"


def _bfloat16_is_smaller(shape: TrialShape) -> bool:
    """bfloat16 halves weights and activations but adds float32 master copies of what is trained."""
    config = shape.config
    half = config.model_copy(update={"model": config.model.model_copy(update={"dtype": "bfloat16"})})
    return forecast(half, devices=shape.devices).peak < shape.forecast.peak
