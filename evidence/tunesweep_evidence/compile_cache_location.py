"""Where JAX's persistent compilation cache may live, for the operator's settings and the trainer. Pure.

JAX reads its cache folder through `etils.epath`: a local path, or a bucket URI it reaches with
fsspec. Accepted here: an absolute path (a volume the Ray pods mount, so that their trials share it)
and `gs://<bucket>[/prefix]` (the pods' ambient identity or GOOGLE_APPLICATION_CREDENTIALS). Refused:
a relative path (each Pod's working folder differs), `file://` (epath takes it for a relative
folder named `file:`), and `s3://` (epath's s3fs reads neither the evidence's credentials folder nor
its endpoint setting).
"""

from __future__ import annotations

import re

ENV = "TUNESWEEP_COMPILE_CACHE"
"""The trial processes' variable naming the location (the operator sets it on the Ray containers)."""
GCS_URI = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/\S*)?$")
WANTED = "an absolute path (a volume the Ray pods mount) or gs://<bucket>[/prefix]"


def problem(location: str) -> str | None:
    """Why JAX's cache cannot use `location`; None when it can."""
    if location.startswith("/") or GCS_URI.match(location):
        return None
    if location.startswith("file://"):
        return f"{location!r} is a file:// URI: give the path itself ({location[len('file://') :]!r})"
    if location.startswith("s3://"):
        return (
            f"{location!r}: JAX's cache would reach S3 without the evidence's credentials and endpoint; "
            f"use {WANTED}"
        )
    return f"{location!r} is not {WANTED}"
