"""`tunesweep explain BACKEND`: the baseConfig reference, generated from the config models."""

from __future__ import annotations

import json
import math
import re
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from tunesweep_evidence import schedule
from tunesweep_evidence.cli import main
from tunesweep_evidence.config_reference import BACKENDS
from tunesweep_evidence.crd import build_crd
from tunesweep_evidence.training_config import MODEL_PRESETS, Backend, TrainingSection, config_model


def explained(backend: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["explain", backend]) == 0
    return capsys.readouterr().out


def fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any, type[BaseModel] | None]]:
    """(dotted key, its FieldInfo, its section's model or None) for every field, sections' included."""
    found = []
    for name, info in model.model_fields.items():
        section = next(
            (
                t
                for t in (info.annotation, *get_args(info.annotation))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
        found.append((f"{prefix}{name}", info, section))
        if section is not None:
            found += fields(section, f"{prefix}{name}.")
    return found


def words(text: str) -> str:
    return " ".join(text.split())


def test_every_backend_is_explained() -> None:
    assert get_args(Backend) == BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_key_appears_with_its_type_default_and_description(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = explained(backend, capsys)
    flat = words(text)
    keys = [line.split(": ", 1)[0] for line in text.splitlines() if line and not line.startswith(" ")]
    for path, info, section in fields(config_model(backend)):
        assert path in keys, path
        description = info.description or (section.__doc__ if section is not None else None)
        assert description, f"{path} has no description: give the field a docstring"
        assert words(description) in flat, path
        if section is None:
            assert f"{path}: " in text and f"default {json.dumps(info.default)}" in flat, path


def test_the_model_presets_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    key_line = re.split(r"\n {4}\S", explained("flax-lm", capsys).split("\nmodel.name: ", 1)[1])[0]
    line = words(key_line)  # up to its description, the first line indented by 4
    assert line == f'one of {", ".join(MODEL_PRESETS)}, default "tiny"'


def test_the_schedule_is_described_as_the_code_computes_it(capsys: pytest.CaptureFixture[str]) -> None:
    text = words(explained("flax-lm", capsys))
    assert words(schedule.DESCRIPTION) in text
    defaults = TrainingSection()
    assert f"update 1: {defaults.learning_rate / defaults.warmup_steps:.3g}" in text
    # DESCRIPTION's formula, read as written, against the trainer's schedule
    for peak, warmup, total in ((3e-3, 10, 600), (1e-2, 0, 50), (1e-3, 7, 8)):
        for n in range(1, total + 1):
            if n <= warmup:
                words_say = peak * n / warmup
            else:
                words_say = peak * (1 + math.cos(math.pi * (n - 1 - warmup) / (total - warmup))) / 2
            assert schedule.learning_rate_at(n - 1, peak, warmup, total) == pytest.approx(words_say), (
                n,
                warmup,
            )


def test_an_unknown_backend_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "jax"]) == 2
    assert capsys.readouterr().err == f"error: unknown backend 'jax'; known backends: {', '.join(BACKENDS)}\n"


def test_the_crd_points_at_explain() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    base_config = schema["properties"]["spec"]["properties"]["trainer"]["properties"]["baseConfig"]
    assert "`tunesweep explain <backend>`" in base_config["description"]
