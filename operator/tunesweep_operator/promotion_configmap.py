"""The promoted ConfigMap: the winning config, ready to mount into the next training run. Pure.

Keys: `best_config.yaml` and `best_params.json` (byte for byte the files promotion wrote to the
bucket), `primary_score` (`null` when smoke mode promoted an unscored trial), `trial_id`,
`sweep_uid` and `evidence_uri` (the sweep's evidence folder). Labelled like every child of the
sweep and owned by it.
"""

from __future__ import annotations

import json
from typing import Any

from tunesweep_evidence.documents import BestParams
from tunesweep_evidence.spec import TuningSweep

from . import names
from .ownership import owner_reference

BEST_CONFIG_KEY = "best_config.yaml"
BEST_PARAMS_KEY = "best_params.json"


def build_config_map(
    sweep: TuningSweep, name: str, config_yaml: str, best_params: BestParams
) -> dict[str, Any]:
    score = best_params.primary_score
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": sweep.metadata.namespace,
            "labels": names.child_labels(sweep.metadata.name, sweep.metadata.uid),
            "ownerReferences": [owner_reference(sweep)],
        },
        "data": {
            BEST_CONFIG_KEY: config_yaml,
            BEST_PARAMS_KEY: document_json(best_params),
            "primary_score": "null" if score is None else repr(score),
            "trial_id": best_params.trial_id,
            "sweep_uid": sweep.metadata.uid,
            "evidence_uri": best_params.evidence_uri,
        },
    }


def document_json(document: BestParams) -> str:
    """The same text `bucket.write_document` writes."""
    return json.dumps(document.model_dump(mode="json"), indent=2, sort_keys=True, allow_nan=False) + "\n"
