"""Custom trainers the tests bring: the sample package `my_trainer` (backend python, as
manifests/samples/custom-trainer builds it into an image) and a script (backend command)."""

from pathlib import Path

SCRIPT = Path(__file__).parent / "script_adder.py"
SAMPLE_PACKAGE = Path(__file__).parents[3] / "manifests" / "samples" / "custom-trainer" / "my_trainer"
"""The folder holding the sample package `my_trainer`: on PYTHONPATH it stands in for the package its
image recipe installs."""
SAMPLE_ENTRYPOINT = "my_trainer.train:run"
