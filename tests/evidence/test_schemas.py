from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from tunesweep_evidence import bucket, layout, schemas
from tunesweep_evidence.documents import EvalSummary, MetricsLine

from tests.evidence.builders import build_sweep, edit_json, lr_trials, run_evidence_cli

SCHEMA_DIR = Path(schemas.__file__).parent / "schemas"


def committed(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text())


def test_committed_schema_files_match_the_models() -> None:
    drifted = schemas.drifted_schemas(SCHEMA_DIR)
    assert not drifted, f"{', '.join(drifted)} differ from the models: run `{schemas.REGENERATE}`"


def test_schemas_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_evidence_cli("schemas", "--output", str(tmp_path), "--check") == 1
    assert schemas.REGENERATE in capsys.readouterr().out
    assert run_evidence_cli("schemas", "--output", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(schemas.SCHEMA_MODELS)
    assert run_evidence_cli("schemas", "--output", str(tmp_path), "--check") == 0


@pytest.mark.parametrize("name", sorted(set(schemas.SCHEMA_MODELS) - {"best_config.schema.json"}))
def test_every_document_requires_its_schema_version(name: str) -> None:
    schema = committed(name)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == 1
    assert "schema_version" in schema["required"]


def test_real_documents_validate_against_the_committed_files(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 0.0], [0.5, 0.5]))
    documents = {
        layout.PLAN: "plan.schema.json",
        layout.SWEEP_SUMMARY: "sweep_summary.schema.json",
        layout.BEST_PARAMS: "best_params.schema.json",
        "trials/0/run_manifest.json": "run_manifest.schema.json",
        "trials/0/eval_summary.json": "eval_summary.schema.json",
    }
    for rel, name in documents.items():
        Draft202012Validator(committed(name)).validate(json.loads((tmp_path / rel).read_text()))
    for line in (tmp_path / "trials/0/metrics.jsonl").read_text().splitlines():
        Draft202012Validator(committed("metrics_line.schema.json")).validate(json.loads(line))
    best_config = yaml.safe_load((tmp_path / layout.BEST_CONFIG).read_text())
    Draft202012Validator(committed("best_config.schema.json")).validate(best_config)


def test_written_documents_are_stable_json(tmp_path: Path) -> None:
    build_sweep(str(tmp_path), lr_trials([1.0, 1.0]))
    text = (tmp_path / "trials/0/run_manifest.json").read_text()
    assert text.endswith("}\n")
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_writers_refuse_a_document_that_breaks_its_schema(tmp_path: Path) -> None:
    broken = MetricsLine.model_construct(step=-1, elapsed_s=0.0, schema_version=1)
    with pytest.raises(bucket.DocumentError, match="step: -1 is less than the minimum of 0"):
        bucket.write_document(str(tmp_path / "m.json"), broken)
    with pytest.raises(bucket.DocumentError, match=r"m\.jsonl:2: step"):
        bucket.write_jsonl(str(tmp_path / "m.jsonl"), [MetricsLine(step=1, elapsed_s=0.0), broken])
    assert list(tmp_path.iterdir()) == []


def test_readers_name_the_uri_and_the_field(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 1.0]))
    uri = layout.join(root, "trials/0/eval_summary.json")
    edit_json(uri, lambda d: d["rows"][0]["metrics"].update(answer_correctness="yes"))
    with pytest.raises(bucket.DocumentError) as raised:
        bucket.read_document(uri, EvalSummary)
    assert str(raised.value) == f"{uri}: rows[0].metrics.answer_correctness: 'yes' is not of type 'number'"


def test_readers_refuse_what_json_schema_cannot_express(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 1.0]))
    uri = layout.join(root, "trials/0/eval_summary.json")
    bucket.write_text(uri, bucket.read_text(uri).replace('"metrics": {}', '"metrics": {"bleu": NaN}', 1))
    with pytest.raises(
        bucket.DocumentError, match=r"eval_summary\.json: metrics\.bleu: Input should be a finite"
    ):
        bucket.read_document(uri, EvalSummary)


def test_not_json_is_a_document_error(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text('{"schema_version": 1,')
    with pytest.raises(bucket.DocumentError, match=r"plan\.json: not JSON"):
        bucket.read_json(str(tmp_path / "plan.json"))


def test_a_field_added_by_a_newer_writer_is_read_and_not_written_back(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 1.0]))
    uri = layout.join(root, "trials/0/eval_summary.json")
    edit_json(uri, lambda d: d.update(latency_s=1.5) or d["rows"][0].update(tokens=12))
    summary = bucket.read_document(uri, EvalSummary)
    assert summary.primary_score == 1.0
    bucket.write_document(uri, summary)
    assert "latency_s" not in bucket.read_json(uri) and "tokens" not in bucket.read_json(uri)["rows"][0]


def test_a_newer_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    root = str(tmp_path)
    build_sweep(root, lr_trials([1.0, 1.0]))
    uri = layout.join(root, "trials/0/eval_summary.json")
    edit_json(uri, lambda d: d.update(schema_version=2, renamed_field=True))
    with pytest.raises(bucket.DocumentError) as raised:
        bucket.read_document(uri, EvalSummary)
    assert str(raised.value) == (
        f"{uri}: schema_version 2 is newer than this tunesweep reads (1); upgrade tunesweep"
    )
