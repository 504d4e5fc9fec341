"""`tunesweep validate`: one line per problem, exit 0 / 1 / 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from tunesweep_evidence.cli import main
from tunesweep_evidence.training_config import TrainingSection

from tests.spec.cases import BASE, DROP, at, with_edits

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "manifests" / "samples").glob("*.yaml"))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_sample_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert {p.name for p in SAMPLES} >= {"sweep.yaml", "sweep-mock.yaml"}
    assert main(["validate", *map(str, SAMPLES)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{p}: ok" for p in SAMPLES]


def test_fewer_worker_pods_than_parallel_trials_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = with_edits(at("spec.trials", count=4, parallel=2), at("spec.resources.workers", replicas=1))
    path = write(tmp_path, "short.yaml", yaml.safe_dump(short))
    assert main(["validate", path]) == 0
    warning, ok = capsys.readouterr().out.splitlines()
    assert warning.startswith(f"{path}: warning: spec.trials.parallel: trials.parallel is 2, but 1 worker")
    assert ok == f"{path}: ok"


def test_production_without_base_config_is_refused_and_smoke_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    production = write(tmp_path, "demo.yaml", yaml.safe_dump(with_edits(at("spec.trainer", baseConfig=DROP))))
    assert main(["validate", production]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{production}: spec.trainer.baseConfig: production mode needs a baseConfig (the model and data to "
        "tune); without one the builtin demo model `tiny` would be tuned — set baseConfig, or use mode: "
        "smoke to try the demo"
    ]
    smoke = with_edits(at("spec", mode="smoke"), at("spec.trainer", baseConfig=DROP))
    path = write(tmp_path, "smoke.yaml", yaml.safe_dump(smoke))
    assert main(["validate", path]) == 0
    warning, ok = capsys.readouterr().out.splitlines()
    assert warning == (
        f"{path}: warning: spec.trainer.baseConfig: no baseConfig: this smoke sweep tunes the builtin demo "
        "model `tiny` on the builtin arithmetic data; set baseConfig to tune your own model"
    )
    assert ok == f"{path}: ok"


def test_problems_one_line_each_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.yaml", yaml.safe_dump(BASE))
    bad = write(
        tmp_path,
        "bad.yaml",
        yaml.safe_dump(
            with_edits(
                at("spec.searchSpace", **{"training.lr": {"loguniform": [1.0e-4, 1.0e-2]}}),
                at("spec.resources.perTrial", cpu="0"),
            )
        ),
    )
    assert main(["validate", good, bad]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{good}: ok",
        f"{bad}: spec.resources.perTrial.cpu: cpu must be a positive Kubernetes quantity, e.g. 4 or 500m",
    ]
    # the cross-field problem shows once the field problem is fixed
    fixed = write(tmp_path, "fixed.yaml", Path(bad).read_text().replace("cpu: '0'", "cpu: '2'"))
    assert main(["validate", fixed]) == 1
    known = ", ".join(TrainingSection.model_fields)
    assert capsys.readouterr().out == (
        f'{fixed}: spec.searchSpace["training.lr"]: unknown path; known keys under training: {known}\n'
    )


def test_bad_yaml_is_one_line_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "broken.yaml", "spec: {a: [1, 2}\n")
    assert main(["validate", path]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}: not valid YAML: line 1, column 16")


def test_unreadable_file_exits_2_and_others_are_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.yaml")
    bad = write(tmp_path, "bad.yaml", yaml.safe_dump(with_edits(at("spec", mode="fast"))))
    assert main(["validate", missing, bad]) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"{missing}: cannot read: No such file or directory",
        f"{bad}: spec.mode: Input should be 'production' or 'smoke'",
    ]


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(BASE)))
    assert main(["validate", "-"]) == 0
    assert capsys.readouterr().out == "-: ok\n"
