"""JSON Schemas of the evidence documents, generated from the pydantic models (the one source of truth).

The committed files under `schemas/` ship in the package; writers (`bucket.write_document`) and
`tunesweep evidence verify` validate against those files, and a test fails when they drift from
the models. Regenerate them with `REGENERATE`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import BaseModel

from .documents import (
    BestParams,
    CheckpointRecord,
    Digests,
    EvalSet,
    EvalSummary,
    MetricsLine,
    Plan,
    RungDecisions,
    RunManifest,
    SweepSummary,
)
from .training_config import TrainingConfig

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "run_manifest.schema.json": RunManifest,
    "eval_summary.schema.json": EvalSummary,
    "metrics_line.schema.json": MetricsLine,
    "sweep_summary.schema.json": SweepSummary,
    "best_params.schema.json": BestParams,
    "best_config.schema.json": TrainingConfig,
    "plan.schema.json": Plan,
    "eval_set.schema.json": EvalSet,
    "rung_decisions.schema.json": RungDecisions,
    "digests.schema.json": Digests,
    "checkpoint.schema.json": CheckpointRecord,
}
REGENERATE = "tunesweep evidence schemas --output evidence/tunesweep_evidence/schemas"
_MAX_MESSAGE = 200


def render_schema(model: type[BaseModel]) -> str:
    """The schema file's text: stable, so regenerating an unchanged model gives the same bytes."""
    schema = {"$schema": Draft202012Validator.META_SCHEMA["$id"], **model.model_json_schema()}
    return json.dumps(schema, indent=2) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMA_MODELS.items():
        path = out_dir / name
        path.write_text(render_schema(model), encoding="utf-8")
        written.append(path)
    return written


def drifted_schemas(schema_dir: Path) -> list[str]:
    """Names of the schema files under `schema_dir` that are missing or differ from the models."""
    return [
        name
        for name, model in SCHEMA_MODELS.items()
        if not (schema_dir / name).is_file()
        or (schema_dir / name).read_text(encoding="utf-8") != render_schema(model)
    ]


def schema_name_for(model: type[BaseModel]) -> str:
    for name, candidate in SCHEMA_MODELS.items():
        if candidate is model:
            return name
    raise KeyError(f"{model.__name__} is not an evidence document (no schema file)")


@cache
def _validator(name: str) -> Draft202012Validator:
    text = files("tunesweep_evidence").joinpath("schemas", name).read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


def schema_problems(document: Any, name: str) -> list[str]:
    """`field.path: what is wrong` for each violation of the committed schema file `name`.

    A document of a newer schema version than the file describes is one problem saying so: its
    fields may mean something else, so it is refused rather than half-read.
    """
    newer = _newer_version(document, name)
    if newer:
        return [newer]
    return [_describe(error) for error in sorted(_validator(name).iter_errors(document), key=str)]


def _newer_version(document: Any, name: str) -> str | None:
    reads = _validator(name).schema.get("properties", {}).get("schema_version", {}).get("const")
    written = document.get("schema_version") if isinstance(document, dict) else None
    if not isinstance(reads, int) or isinstance(written, bool) or not isinstance(written, int):
        return None
    if written <= reads:
        return None
    return f"schema_version {written} is newer than this tunesweep reads ({reads}); upgrade tunesweep"


def _describe(error: ValidationError) -> str:
    shown = _closest(error)
    message = shown.message if len(shown.message) <= _MAX_MESSAGE else shown.message[:_MAX_MESSAGE] + "..."
    return f"{_field_path(shown)}: {message}"


def _closest(error: ValidationError) -> ValidationError:
    # anyOf (`X | None`) only says "not valid under any"; the deepest non-null branch says why.
    while error.context:
        branches = [e for e in error.context if e.validator_value != "null"] or error.context
        error = max(branches, key=lambda e: len(e.absolute_path))
    return error


def _field_path(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "(document)"
