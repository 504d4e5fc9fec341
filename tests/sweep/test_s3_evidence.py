"""The cluster path's storage: plan, evidence and Ray Tune's experiment state in an S3 bucket (a
real S3-compatible server), with the driver as the RayJob runs it: `tunesweep drive --plan s3://`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tunesweep_evidence import bucket, layout
from tunesweep_evidence.documents import SweepSummary
from tunesweep_evidence.spec import TuningSweep
from tunesweep_evidence.verify import verify
from tunesweep_trainer.sweep import plan as plans

from tests.evidence.conftest import S3Endpoint
from tests.sweep.sweeps import sweep_manifest

TUNESWEEP = str(Path(sys.executable).with_name("tunesweep"))


def test_a_sweep_with_its_evidence_in_s3(s3_server: S3Endpoint) -> None:
    root = layout.sweep_root(s3_server.uri, "team-a", "s3-sweep", "uid-1")
    sweep = TuningSweep.model_validate(sweep_manifest(name="s3-sweep"))
    plan = plans.freeze(sweep, uid="uid-1", namespace="team-a", evidence_uri=root)
    plans.write(plan)

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | s3_server.env  # its own Ray
    driver = subprocess.run(
        [TUNESWEEP, "drive", "--plan", layout.join(root, layout.PLAN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert driver.returncode == 0, driver.stdout + driver.stderr
    summary = bucket.read_document(layout.join(root, layout.SWEEP_SUMMARY), SweepSummary)
    assert summary.status == "succeeded" and len(summary.trials) == 2
    assert bucket.exists(layout.join(root, layout.RAY_STATE, "tuner.pkl"))  # restorable from the bucket
    assert bucket.exists(layout.join(root, layout.REPORT))
    report = verify(root)
    assert report.ok, report.problems
