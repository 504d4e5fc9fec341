"""`tunesweep train --config FILE --out DIR_OR_URI`: one trial, standalone (no Ray, no sweep)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml
from tunesweep_evidence import bucket
from tunesweep_evidence.wording import counted

EXIT_FAILED, EXIT_USAGE = 1, 2


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune and evaluate one training config; write its evidence",
        description="Train and evaluate one config (the nested YAML of spec.trainer.baseConfig or a "
        "promoted best_config.yaml) and write run_manifest.json, metrics.jsonl and eval_summary.json "
        "under --out.",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="training config YAML (path or URI)")
    parser.add_argument("--out", required=True, metavar="DIR_OR_URI", help="where the evidence goes")
    parser.add_argument("--backend", choices=("flax-lm", "mock"), default="flax-lm")
    parser.add_argument("--mode", choices=("production", "smoke"), default="production")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidConfig, TrialFailed
    from ..trial import parse_config, run_trial  # JAX loads only when a trial runs

    try:
        config = parse_config(_read_mapping(args.config))
    except bucket.BucketError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (InvalidConfig, ValueError) as error:
        print(f"error: {args.config}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        outcome = run_trial(args.backend, config, args.out, mode=args.mode, report=_print_progress)
    except (TrialFailed, ValueError, bucket.BucketError) as error:
        # bad data, a missing checkpoint, a NaN loss: the manifest holds the error too
        print(f"trial failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    steps = counted(outcome.steps_done, "step")
    print(f"primary_score {outcome.primary_score} after {steps}; evidence: {args.out}")
    return 0


def _read_mapping(uri: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(bucket.read_text(uri))
    except yaml.YAMLError as error:
        raise ValueError(f"not YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a mapping with model / training / data / eval sections")
    if data.get("kind") == "TuningSweep":
        raise ValueError(_sweep_not_config(uri))
    return data


def _sweep_not_config(uri: str) -> str:
    """What to pass instead of a whole TuningSweep manifest: its base config, the training config."""
    return (
        "this is a TuningSweep manifest, not a training config: pass its spec.trainer.baseConfig as "
        f"a file of its own, e.g. `yq '.spec.trainer.baseConfig' {uri} > base_config.yaml`, then "
        "`tunesweep train --config base_config.yaml ...` (or a sweep's promoted/best_config.yaml); "
        "to run the whole sweep, `tunesweep run` it"
    )


def _print_progress(metrics: dict[str, Any]) -> None:
    print(
        "  ".join(
            f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
            for name, value in metrics.items()
        ),
        flush=True,
    )
