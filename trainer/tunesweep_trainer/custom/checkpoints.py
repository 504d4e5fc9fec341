"""A custom trainer's checkpoint folder: its own local folder per trial, and the last step it saved
there (the file `LAST_STEP`, which the trainer writes), so a trial run again can resume."""

from __future__ import annotations

from pathlib import Path

LAST_STEP = "LAST_STEP"


def prepared(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def last_saved_step(folder: Path) -> int | None:
    marker = folder / LAST_STEP
    text = marker.read_text().strip() if marker.is_file() else ""
    return int(text) if text.isdigit() else None


def mark_saved(folder: Path, step: int) -> None:
    """Record `step` as saved, atomically: a trial killed meanwhile leaves the previous mark."""
    partial = folder / f".{LAST_STEP}.partial"
    partial.write_text(f"{step}\n")
    partial.replace(folder / LAST_STEP)
