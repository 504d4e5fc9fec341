"""Where each evidence file lives below a sweep's evidence folder.

<evidence.uri>/<namespace>/<sweep-name>/<sweep-uid>/
  plan.json  eval_set.json
  trials/<trial_id>/run_manifest.json  eval_summary.json  metrics.jsonl
  trials/<trial_id>/checkpoints/step-<step>/   (the trial's state; checkpoint.json last)
  ray/                                  (Ray Tune experiment state, for restore)
  sweep_summary.json  rung_decisions.json   (ASHA: each rung decision, in order)
  promoted/best_config.yaml  promoted/best_params.json
  report.html
  digests.json                          (sha256 of every file above but ray/, written last)
"""

from __future__ import annotations

PLAN = "plan.json"
EVAL_SET = "eval_set.json"
DIGESTS = "digests.json"
SWEEP_SUMMARY = "sweep_summary.json"
RUNG_DECISIONS = "rung_decisions.json"
RAY_STATE = "ray"
LOCAL_RAY_SESSION = ".ray"
"""Where a local run keeps Ray's session (sockets, logs) when the path is short enough: not evidence."""
REPORT = "report.html"
PROMOTED = "promoted"
BEST_CONFIG = f"{PROMOTED}/best_config.yaml"
BEST_PARAMS = f"{PROMOTED}/best_params.json"
RUN_MANIFEST = "run_manifest.json"
EVAL_SUMMARY = "eval_summary.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
CHECKPOINT_RECORD = "checkpoint.json"


def join(root: str, *parts: str) -> str:
    """Join URI/path parts with single slashes (works for file://, s3://, gs:// and plain paths)."""
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def parent(uri: str) -> str:
    """The folder that holds `uri` (`.` for a bare relative name)."""
    return uri.rstrip("/").rpartition("/")[0] or "."


def sweep_root(evidence_uri: str, namespace: str, name: str, uid: str) -> str:
    return join(evidence_uri, namespace, name, uid)


def trial_dir(root: str, trial_id: str) -> str:
    return join(root, "trials", trial_id)
