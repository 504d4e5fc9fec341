"""A status written by another operator release parses, so an upgrade or a rollback never strands a sweep.

previous_statuses.json holds a Running and a Succeeded status written by the code of earlier
releases (their `status.started`/`mirrored`/`with_progress`/`promoted`, run at the commits named
there), byte for byte as they dumped them to the wire.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from tunesweep_evidence.documents import SweepSummary
from tunesweep_evidence.spec import Phase
from tunesweep_operator import status
from tunesweep_operator.status import Clock

PREVIOUS = json.loads((Path(__file__).parent / "previous_statuses.json").read_text())
LATER = Clock(1, "2026-11-02T00:00:00Z")


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    if isinstance(node, list):
        return {k: v for i, item in enumerate(node) for k, v in _flat(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): node}


@pytest.mark.parametrize("release", sorted(PREVIOUS))
@pytest.mark.parametrize("state", ["running", "succeeded"])
def test_an_earlier_releases_status_parses_and_keeps_every_value(release: str, state: str) -> None:
    wire = PREVIOUS[release][state]
    parsed = status.parse_status(wire)
    rewritten = _flat(status.dump_status(parsed))
    # Every value the earlier release wrote survives this release's parse and rewrite unchanged.
    assert {path: rewritten.get(path) for path in _flat(wire)} == _flat(wire)
    assert parsed.phase is Phase(wire["phase"])


@pytest.mark.parametrize("release", sorted(PREVIOUS))
def test_this_release_carries_on_from_an_earlier_releases_running_status(release: str) -> None:
    running = status.parse_status(PREVIOUS[release]["running"])
    summary = SweepSummary.model_validate(
        {
            "sweep": {"name": "lr-sweep", "namespace": "team-a", "uid": "uid-1"},
            "mode": "production",
            "objective": {"metric": "primary_score", "mode": "max"},
            "status": "running",
            "trials": [{"trial_id": f"t{i}", "status": "succeeded"} for i in range(4)],
            "updated_at": "2026-11-02T00:00:00Z",
        }
    )
    progressed = status.with_progress(running, summary, LATER)
    assert progressed.trials.succeeded == 4 and progressed.phase is Phase.running


def test_a_rollback_parses_fields_that_a_newer_release_added() -> None:
    """A newer operator wrote fields this release does not know (at the top, in a nested object and in
    a list item); this release still reads the status, keeps what it knows and drops the rest."""
    newer = copy.deepcopy(PREVIOUS[sorted(PREVIOUS)[-1]]["succeeded"])
    newer["acceleratorHours"] = {"spent": 1.5, "budget": 10}
    newer["trials"]["interrupted"] = 1
    newer["conditions"][0]["severity"] = "Info"
    newer["bestTrial"]["stepsTrained"] = 600
    parsed = status.parse_status(newer)
    assert parsed.phase is Phase.succeeded and parsed.best_trial is not None
    assert parsed.best_trial.primary_score == newer["bestTrial"]["primaryScore"]
    assert parsed.trials.succeeded == newer["trials"]["succeeded"]
    rewritten = status.dump_status(parsed)
    assert "acceleratorHours" not in rewritten and "interrupted" not in rewritten["trials"]
