"""How kopf itself is set up for tunesweep (a startup handler)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import kopf

PREFIX = "tunesweep.dev"
FINALIZER = f"{PREFIX}/progress-timer"


def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Handler progress and the last handled spec live in annotations: the CRD's status schema is
    # ours alone (the API server would prune kopf's default `status.kopf`).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    # kopf needs a finalizer while a timer runs (to stop it); name it for what it is.
    settings.persistence.finalizer = FINALIZER
    # Events are the operator's own (transitions); kopf's per-handler chatter stays in the logs.
    settings.posting.level = logging.CRITICAL
    settings.posting.reporting_component = "tunesweep-operator"
    # No watching of CRDs/namespaces at runtime: the RBAC rules stay minimal, and the served
    # namespaces are given explicitly. The CRDs must exist when the operator starts.
    settings.scanning.disabled = True
    # Re-list now and then, so a silently broken watch connection cannot stall the operator.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


def quiet_routine_successes(handler_ids: Iterable[str]) -> None:
    """Handlers that run on every timer tick or watch event (`handler_ids`) succeed all the time, which
    is no news: their successes are logged at debug level (shown with --verbose); failures keep their
    level. Kopf logs every handler's success at info and has no setting for that level, so a filter
    on its object logger demotes them."""
    routine = {
        f"{kind} '{handler_id}' succeeded." for handler_id in handler_ids for kind in ("Handler", "Timer")
    }

    def demote(record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.getMessage() not in routine:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    logging.getLogger("kopf.objects").addFilter(demote)
