"""Record real learning curves of the tiny Gemma once, for `bench.search_quality` to replay.

    nice -n 10 .venv/bin/python -m bench.record_curves            # the full grid (tens of minutes)
    .venv/bin/python -m bench.record_curves --smoke                 # 2 short trials, to a temp file

Every config of a full grid (learning rate x warmup x batch size x weight decay, the sample's
search space on a grid) is trained for real by `run_trial("flax-lm", ...)` with the sample's base
config (manifests/samples/sweep.yaml: the tiny Gemma on builtin arithmetic, max_steps 600, eval 50,
test 50, rung slice 32), rung steps every 50 steps so that any ASHA ladder on them can be replayed.
Per config the table keeps: params, loss / learning rate / elapsed seconds at every report step,
the rung score at every rung step and the seconds its evaluation took, the final primary score
(eval set), the test score (test slice), the seconds of the final evaluation and the total.

All trials run in this one process, one after another (no subprocess, no Ray), in a fixed shuffled
order of the grid, so that a recording cut short holds a representative subset. Before the grid,
one short warm-up trial per batch size compiles every shape into a fresh JAX compilation cache;
their times are recorded in the header as the cold-compile cost, so that every grid trial is
measured warm (as the trials of a sweep after the first are, with the shared cache). In a real
sweep each trial is a fresh process loading the cache from disk, so its start costs a few seconds
more than here.

The file (bench/data/learning_curves.json) is rewritten after each config, so an interrupted
recording resumes where it stopped: configs already in the file are skipped (the header must
describe the same grid and base config).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "manifests" / "samples" / "sweep.yaml"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "learning_curves.json"
FORMAT = "tunesweep-learning-curves/v1"

GRID: dict[str, list[Any]] = {
    "training.learning_rate": [1.0e-3, 1.78e-3, 3.16e-3, 5.62e-3, 1.0e-2],  # log-spaced 1e-3 .. 1e-2
    "training.warmup_steps": [10, 50],
    "training.per_device_batch_size": [16, 32],
    "training.weight_decay": [0.0, 0.05],
}
RUNG_EVERY = 50


def base_config() -> dict[str, Any]:
    """The sample sweep's base config (the table's fixed part)."""
    spec = yaml.safe_load(SAMPLE.read_text())["spec"]
    return json.loads(json.dumps(spec["trainer"]["baseConfig"]))


def grid_params() -> list[dict[str, Any]]:
    names = list(GRID)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*GRID.values())]


def config_key(params: dict[str, Any]) -> str:
    return ",".join(f"{name.split('.')[-1]}={value}" for name, value in params.items())


def with_params(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    config = json.loads(json.dumps(base))
    for path, value in params.items():
        section, name = path.split(".")
        config.setdefault(section, {})[name] = value
    return config


def rung_steps(max_steps: int) -> list[int]:
    return list(range(RUNG_EVERY, max_steps, RUNG_EVERY))


@contextmanager
def timed_rungs(seconds: dict[int, float]) -> Iterator[None]:
    """Times each rung evaluation of the flax-lm backend (`training.Rungs.measure`) into `seconds`."""
    from tunesweep_trainer.flax_lm import training

    original = training.Rungs

    def rungs(steps: frozenset[int] = frozenset(), measure: Any = lambda step: None) -> Any:
        def timed(step: int) -> None:
            started = time.perf_counter()
            measure(step)
            seconds[step] = time.perf_counter() - started

        return original(steps, timed)

    training.Rungs = rungs  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        training.Rungs = original  # type: ignore[misc]


def run_one(config: dict[str, Any], rungs: list[int], work: Path) -> dict[str, Any]:
    """Train and evaluate one config for real; its curve and scores."""
    from tunesweep_trainer.trial import run_trial

    rung_seconds: dict[int, float] = {}
    out = work / f"trial-{time.monotonic_ns()}"
    started = time.monotonic()
    with timed_rungs(rung_seconds):
        outcome = run_trial("flax-lm", config, out.as_uri(), rung_steps=rungs)
    total = time.monotonic() - started
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    summary = json.loads((out / "eval_summary.json").read_text())
    curve = [
        {
            "step": line["step"],
            "loss": line.get("loss"),
            "learning_rate": line.get("learning_rate"),
            "elapsed_s": round(line["elapsed_s"], 3),
            **({"rung_score": line["rung_score"]} if line.get("rung_score") is not None else {}),
            **({"rung_eval_s": round(rung_seconds[line["step"]], 3)} if line["step"] in rung_seconds else {}),
        }
        for line in lines
    ]
    last = curve[-1]
    return {
        "steps_done": outcome.steps_done,
        "curve": curve,
        "primary_score": outcome.primary_score,
        "test_score": summary.get("test_score"),
        "total_s": round(total, 3),
        "trial_elapsed_s": round(outcome.metrics["elapsed_s"], 3),
        "final_eval_s": round(outcome.metrics["elapsed_s"] - last["elapsed_s"], 3),
        "rung_eval_total_s": round(sum(rung_seconds.values()), 3),
    }


def versions() -> dict[str, str]:
    from tunesweep_trainer import environment

    return {"python": platform.python_version(), **environment.versions()}


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "note": "2 CPU cores shared with other work; the recording ran under nice -n 10",
    }


def load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def save(path: Path, table: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=None, help=f"default {DEFAULT_OUT.relative_to(ROOT)}")
    parser.add_argument("--smoke", action="store_true", help="2 configs of 60 steps, to a temp file")
    parser.add_argument("--limit", type=int, default=None, help="record at most this many new configs")
    args = parser.parse_args(argv)

    base = base_config()
    params_list = grid_params()
    if args.smoke:
        base["training"]["max_steps"] = 60
        params_list = params_list[:1] + params_list[-1:]
    out: Path = args.out or (Path(tempfile.mkdtemp()) / "smoke.json" if args.smoke else DEFAULT_OUT)
    max_steps = int(base["training"]["max_steps"])
    rungs = [10, 20, 30, 40, 50] if args.smoke else rung_steps(max_steps)
    grid = {"params": GRID, "rung_steps": rungs, "base_config": base}

    table = load(out)
    if table is not None and table["header"]["grid"] != grid:
        sys.exit(f"{out} was recorded with another grid or base config: move it away to record anew")
    work = Path(tempfile.mkdtemp(prefix="record-curves-"))
    os.environ.setdefault("TUNESWEEP_COMPILE_CACHE", str(work / "jax-cache"))  # cold for the warm-up
    command = "nice -n 10 .venv/bin/python -m bench.record_curves" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    if table is None:
        table = {
            "header": {
                "format": FORMAT,
                "what": "real learning curves of the tiny Gemma on builtin arithmetic, one trial per "
                "config of a full grid, for bench.search_quality to replay",
                "command": command,
                "grid": grid,
                "sessions": [],
            },
            "configs": {},
        }
    session: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "machine": machine(),
        "niceness": os.nice(0),
        "load_average_at_start": list(os.getloadavg()),
        "compile_cache": os.environ["TUNESWEEP_COMPILE_CACHE"],
        "warmup": [],
        "recorded": [],
    }
    table["header"]["sessions"].append(session)
    # A fixed shuffle of the grid: an interrupted recording holds a representative subset.
    order = random.Random(0).sample(params_list, len(params_list))
    todo = [p for p in order if config_key(p) not in table["configs"]]
    if args.limit is not None:
        todo = todo[: args.limit]
    print(f"{len(params_list) - len(todo)} config(s) already in {out}; {len(todo)} to record", flush=True)
    if not todo:
        table["header"]["sessions"].pop()
        return

    # Warm-up: one short trial per batch size compiles every shape (training step, rung, eval, test)
    # into the fresh cache; the grid's trials then all run warm.
    for batch in sorted({p["training.per_device_batch_size"] for p in todo}):
        config = with_params(base, {"training.per_device_batch_size": batch})
        config["training"].update(max_steps=10, warmup_steps=2, report_every_steps=5)
        result = run_one(config, [5], work)
        session["warmup"].append(
            {
                "per_device_batch_size": batch,
                "max_steps": 10,
                "total_s": result["total_s"],
                "first_report_s": result["curve"][0]["elapsed_s"],
                "rung_eval_s": result["rung_eval_total_s"],
                "final_eval_s": result["final_eval_s"],
            }
        )
        print(f"warm-up (cold compile) batch {batch}: {result['total_s']:.1f} s", flush=True)
    save(out, table)

    for index, params in enumerate(todo):
        key = config_key(params)
        load_before = list(os.getloadavg())
        started = datetime.now(UTC).isoformat(timespec="seconds")
        result = run_one(with_params(base, params), rungs, work)
        table["configs"][key] = {
            "params": params,
            "recorded_at": started,
            "session": len(table["header"]["sessions"]) - 1,
            "order_in_session": index,
            "load_average_before": load_before,
            **result,
        }
        session["recorded"].append(key)
        session["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        save(out, table)
        print(
            f"[{index + 1}/{len(todo)}] {key}: primary {result['primary_score']:.2f} "
            f"test {result['test_score']:.2f} total {result['total_s']:.1f} s "
            f"(rung evals {result['rung_eval_total_s']:.1f} s, final eval {result['final_eval_s']:.1f} s)",
            flush=True,
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
