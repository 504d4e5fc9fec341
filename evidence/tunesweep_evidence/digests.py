"""digests.json: sha256 and size of every evidence file of a sweep, written last by the promotion.

Covered: every file below the sweep's folder except digests.json itself, `ray/` (Ray Tune's own
restore state, rewritten by Ray), a local run's `.ray/` (Ray's session: sockets and logs), and the
state files of trial checkpoints: each checkpoint's checkpoint.json is covered, and it holds their
sha256 (a full fine-tune's checkpoints are gigabytes the operator would otherwise read back).
Whoever writes the sweep's final files writes the digests after them (the promotion; the local
driver again after its final summary and report), so any file changed, removed or added afterwards
is named by `tunesweep evidence verify`.

With a key (a file named by TUNESWEEP_EVIDENCE_SIGNING_KEY when writing, `--signing-key` when
verifying) the manifest also carries an HMAC-SHA256 of its entries: the digests alone prove
nothing against someone who can rewrite digests.json too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping

from . import bucket, layout
from .documents import Digests, FileDigest

SIGNING_KEY_ENV = "TUNESWEEP_EVIDENCE_SIGNING_KEY"
_NOT_COVERED = (layout.DIGESTS, f"{layout.RAY_STATE}/", f"{layout.LOCAL_RAY_SESSION}/")


def evidence_files(root: str) -> list[str]:
    """Relative paths of the files digests.json covers, sorted."""
    return [rel for rel in bucket.walk(root) if not (rel.startswith(_NOT_COVERED) or _checkpoint_state(rel))]


def _checkpoint_state(rel: str) -> bool:
    parts = rel.split("/")
    in_checkpoint = len(parts) > 4 and parts[0] == "trials" and parts[2] == layout.CHECKPOINTS
    return in_checkpoint and rel != "/".join([*parts[:4], layout.CHECKPOINT_RECORD])


def file_digest(data: bytes) -> FileDigest:
    return FileDigest(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def current_digests(root: str) -> dict[str, FileDigest]:
    return {rel: file_digest(bucket.read_bytes(layout.join(root, rel))) for rel in evidence_files(root)}


def signature(files: Mapping[str, FileDigest], key: bytes) -> str:
    canonical = json.dumps({rel: d.model_dump() for rel, d in files.items()}, sort_keys=True)
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


class SigningKeyError(ValueError):
    """The signing key named cannot be used; the message says which file and why."""


def signing_key_from_env() -> bytes | None:
    path = os.environ.get(SIGNING_KEY_ENV)
    return read_key(path, SIGNING_KEY_ENV) if path else None


def read_key(path: str, named_by: str = "--signing-key") -> bytes:
    try:
        with open(path, "rb") as handle:
            key = handle.read().strip()
    except OSError as error:
        raise SigningKeyError(f"{named_by}: cannot read the signing key {path}: {error.strerror}") from None
    if not key:
        raise SigningKeyError(f"{named_by}: the signing key {path} is empty")
    return key


def write_digests(root: str, *, key: bytes | None = None) -> Digests:
    """Digest every covered file now below `root` and write digests.json (signed with `key`)."""
    files = current_digests(root)
    document = Digests(files=files, signature=signature(files, key) if key is not None else None)
    bucket.write_document(layout.join(root, layout.DIGESTS), document)
    return document


def digest_problems(root: str, recorded: Digests, *, key: bytes | None = None) -> list[tuple[str, str]]:
    """(relative path, what is wrong) for each file that differs from digests.json."""
    problems: list[tuple[str, str]] = []
    if key is not None:
        if recorded.signature is None:
            problems.append((layout.DIGESTS, "signature: missing, but a signing key was given"))
        elif not hmac.compare_digest(recorded.signature, signature(recorded.files, key)):
            problems.append((layout.DIGESTS, "signature: does not match the signing key (files edited)"))
    present = set(evidence_files(root))
    for rel in sorted(present | recorded.files.keys()):
        if rel not in present:
            problems.append((rel, f"missing, but listed in {layout.DIGESTS}"))
        elif rel not in recorded.files:
            problems.append((rel, f"not listed in {layout.DIGESTS} (added after the promotion)"))
        else:
            actual, want = file_digest(bucket.read_bytes(layout.join(root, rel))), recorded.files[rel]
            if actual != want:
                problems.append(
                    (
                        rel,
                        f"sha256 {actual.sha256[:16]}… != {layout.DIGESTS} {want.sha256[:16]}… "
                        "(changed after the promotion)",
                    )
                )
    return problems
