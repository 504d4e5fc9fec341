from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml
from tunesweep_trainer.commands import train

from tests.sweep.sweeps import sweep_manifest
from tests.trainer import evidence_files


def _tunesweep(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tunesweep")
    train.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_train_writes_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "best_config.yaml"
    config.write_text(
        "training:\n  max_steps: 30\n  report_every_steps: 10\n"
        "data:\n  eval_size: 20\n  test_size: 8\n  rung_size: 4\n"
    )
    out = tmp_path / "out"
    assert _tunesweep("train", "--config", str(config), "--out", str(out), "--backend", "mock") == 0
    manifest, lines, summary = evidence_files.read(out)
    assert manifest.status == "succeeded" and summary is not None and summary.mode == "production"
    assert [line.step for line in lines] == [10, 20, 30]
    assert f"primary_score {summary.primary_score} after 30 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "training:\n  learning_rate: 2.0\n",
            "training.learning_rate: Input should be less than or equal to 1",
        ),
        ("model:\n  name: gemma-2b-it\n", "model: Value error, model 'gemma-2b-it' needs `checkpoint`"),
        ("trainin:\n  max_steps: 3\n", "trainin: Extra inputs are not permitted"),
        ("- just\n- a list\n", "expected a mapping"),
        ("training: [unclosed\n", "not YAML"),
    ],
)
def test_bad_config_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert (
        _tunesweep("train", "--config", str(config), "--out", str(tmp_path / "out"), "--backend", "mock") == 2
    )
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _tunesweep("train", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path)) == 2
    assert "none.yaml: not found" in capsys.readouterr().err


def test_a_whole_sweep_manifest_is_refused_saying_to_pass_its_base_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump(sweep_manifest()))
    assert (
        _tunesweep("train", "--config", str(sweep), "--out", str(tmp_path / "out"), "--backend", "mock") == 2
    )
    error = capsys.readouterr().err
    assert (
        f"error: {sweep}: this is a TuningSweep manifest, not a training config: pass its "
        f"spec.trainer.baseConfig as a file of its own, e.g. `yq '.spec.trainer.baseConfig' {sweep} > "
        "base_config.yaml`"
    ) in error
    assert "Extra inputs" not in error
    assert not (tmp_path / "out").exists()
