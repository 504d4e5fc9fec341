"""`trials.timeoutSeconds`: a trial still running after it is ended by force.

A training step stuck in XLA cannot be interrupted from Python, so the watchdog ends the whole
trial process (each trial is its own Ray actor process) after first marking the trial's manifest
failed with the reason. Ray then sees the actor die and records the trial as errored, which
counts against maxFailed like any other failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

from tunesweep_evidence import layout

from ..checkpointing import SAVING
from .trial_records import settle_manifest

TIMEOUT_EXIT_CODE = 124
_SAVE_WAIT_S = 120.0  # one checkpoint's upload, at most
logger = logging.getLogger(__name__)


@contextlib.contextmanager
def deadline(seconds: float, out_uri: str) -> Iterator[None]:
    timer = threading.Timer(seconds, _expire, args=(seconds, out_uri))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _expire(seconds: float, out_uri: str) -> None:
    message = f"TrialTimeout: still running after trials.timeoutSeconds={seconds:g}; the trial was ended"
    try:
        # a save under way ends first; later ones wait on the lock until the process is gone
        SAVING.acquire(timeout=_SAVE_WAIT_S)
        settle_manifest(layout.join(out_uri, layout.RUN_MANIFEST), end="failed", error=message)
    finally:
        logger.error(message)
        os._exit(TIMEOUT_EXIT_CODE)
