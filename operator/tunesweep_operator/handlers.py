"""The kopf handlers: each reads what it needs, calls the pure core, writes the outcome.

- start (create/resume of a TuningSweep): validate, refuse file:// evidence that the Ray pods cannot
  share, wait (Pending, KubeRayReady=False, retried every progress interval) while KubeRay's CRDs are
  missing, freeze plan.json, create or adopt the RayJob (rendered from the frozen plan; its trial Pods
  sized for the bucket checkpoints they copy, `checkpoint_cache`, from a listing of them: a Warning
  when the operator cannot list them); on resume, reconcile as `reconcile` does;
- rayjob_changed (every RayJob event) and reconcile (a timer on Provisioning/Running sweeps): read
  the RayJob and the driver's sweep_summary.json and apply the pure status function. The timer
  makes the loop level-triggered: a lost event, or a status write that failed, heals on the next
  tick. A driver that reached a verdict -> Failed at once; success -> Promoting. The driver's final
  summary outranks KubeRay; under Ray token auth (KubeRay cannot see the job end) the RayJob is then
  deleted;
- promote (status.phase becomes Promoting): recompute every trial's score from the evidence,
  write the promoted files and the ConfigMap -> Succeeded;
- spec_changed (a spec edit the CRD let through): report it, keep running the frozen plan;
- sweep_seen (every sweep event): the phase gauge;
- rayjobs (an index of the operator's RayJobs from the watch): the timer reads RayJobs from memory.

Bucket failures raise kopf.TemporaryError with exponential backoff (timers just wait for their next
tick); a spec, a promotion or an API request that can never work (a 4xx: RBAC, admission) raises
kopf.PermanentError after saying why in the status. Kopf keeps its own bookkeeping in
`tunesweep.dev/*` annotations; the one finalizer it adds (`tunesweep.dev/progress-timer`) exists only
while the timer runs, so that kopf can stop it.
"""

from __future__ import annotations

import copy
import functools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes.client.rest import ApiException
from pydantic import ValidationError
from tunesweep_evidence import bucket, layout, memory_checks, placement, promotion
from tunesweep_evidence.documents import Plan, SweepSummary, WarmStartSourceRef
from tunesweep_evidence.spec import (
    GROUP,
    PLURAL,
    VERSION,
    BestTrial,
    Phase,
    Promoted,
    TuningSweep,
    TuningSweepSpec,
    TuningSweepStatus,
)
from tunesweep_evidence.sweep_manifest import path_text
from tunesweep_evidence.warm_start import WarmStartError

from . import checkpoint_cache, names, status, validation, warm_start
from . import kube as k8s
from .defaults import evidence_uri, trainer_image
from .events import transition_events
from .metrics import OperatorMetrics
from .ownership import SweepRef, controlling_sweep, owned_by
from .plan import build_plan, frozen_sweep, same_plan
from .promotion_configmap import build_config_map
from .rayjob import (
    RAY_AUTH_ANNOTATION,
    ended_by_operator,
    render_network_policy,
    render_ray_auth_secret,
    render_rayjob,
)
from .settings import OperatorSettings
from .status import Clock

log = logging.getLogger(__name__)

BACKOFF_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0
Change = Callable[[TuningSweepStatus, Clock], TuningSweepStatus]
ROUTINE_HANDLERS = ("reconcile", "sweep_seen", "rayjob_changed")
"""Handlers that run on every timer tick or watch event: their successes are no news (debug logs)."""


@dataclass(frozen=True)
class Deps:
    settings: OperatorSettings
    kube: k8s.Kube
    metrics: OperatorMetrics


def register_handlers(registry: kopf.OperatorRegistry, deps: Deps) -> None:
    h = Handlers(deps)
    sweeps = (GROUP, VERSION, PLURAL)

    def wrap(name: str, fn: Callable[..., None]) -> Callable[..., None]:
        return _instrumented(name, fn, deps.metrics)

    kopf.on.create(*sweeps, id="start", registry=registry)(wrap("start", h.start))
    kopf.on.resume(*sweeps, id="start", registry=registry)(wrap("start", h.start))
    kopf.on.field(*sweeps, field="status.phase", new=Phase.promoting.value, id="promote", registry=registry)(
        wrap("promote", h.promote)
    )
    kopf.on.update(*sweeps, field="spec", id="spec_changed", registry=registry)(
        wrap("spec_changed", h.spec_changed)
    )
    kopf.timer(
        *sweeps,
        id="reconcile",
        interval=deps.settings.progress_interval_seconds,
        when=_in_progress,
        registry=registry,
    )(wrap("reconcile", h.reconcile))
    kopf.on.event(*sweeps, id="sweep_seen", registry=registry)(h.sweep_seen)
    rayjobs = (k8s.RAY_GROUP, k8s.RAY_VERSION, k8s.RAYJOBS)
    managed = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
    kopf.index(*rayjobs, labels=managed, id="rayjobs", registry=registry)(_rayjob_index)
    kopf.on.event(*rayjobs, labels=managed, id="rayjob_changed", registry=registry)(
        wrap("rayjob_changed", h.rayjob_changed)
    )


class Handlers:
    def __init__(self, deps: Deps) -> None:
        self.settings = deps.settings
        self.kube = deps.kube
        self.metrics = deps.metrics

    # ---- handlers ----

    def start(self, body: kopf.Body, retry: int, rayjobs: kopf.Index[Any, Any], **_: Any) -> None:
        ref = _ref(body)
        current = status.parse_status(_plain(body).get("status"))
        if status.is_final(current):
            return
        if status.recorded_start(current) and current.evidence_uri:
            # Started before (plan frozen, RayJob made): reconcile from what is there now.
            self._reconcile(ref, current, rayjobs, _plain(body))
            return
        try:
            sweep = validation.parse_sweep(_plain(body))
        except validation.InvalidSweep as error:
            raise self._invalid(ref, error.problems) from None
        found = validation.problems(sweep, self.settings)
        if found:
            raise self._invalid(ref, found)
        unshared = validation.unshared_file_evidence(evidence_uri(sweep.spec, self.settings), self.settings)
        if unshared is not None:
            raise self._unshared_evidence(ref, unshared)
        self._require_kuberay(ref)
        # Fail before the first trial, not after the last, when the promotion target is taken.
        config_map = names.config_map_name(ref.name, sweep.spec.promotion.config_map_name)
        self._require_config_map_free(ref, config_map)
        self._require_ray_service_account(ref)
        root = layout.sweep_root(evidence_uri(sweep.spec, self.settings), ref.namespace, ref.name, ref.uid)
        plan_uri = layout.join(root, layout.PLAN)
        sources = self._warm_start_sources(ref, sweep.spec)
        fresh = build_plan(sweep, root, trainer_image(sweep.spec, self.settings), _now(), sources)
        try:
            frozen = self._freeze_plan(plan_uri, fresh)
            planned = frozen_sweep(frozen)  # what the driver runs: Pods are sized from the same plan
        except bucket.BucketError as error:
            raise self._bucket_down(ref, error, retry) from None
        except (bucket.DocumentError, ValidationError) as error:
            self._fail(ref, status.INVALID_SPEC, f"plan.json cannot be written or read back: {error}")
            raise kopf.PermanentError(str(error)) from None
        # What the Ray Pods need before they exist: the token they mount, the policy around them.
        if self.settings.ray_auth:
            self._ensure_ray_auth_secret(ref, planned)
        if self.settings.ray_network_policy is not None:
            policy = render_network_policy(planned, self.settings.ray_network_policy)
            self._create_or_adopt(ref, policy, self.kube.create_network_policy, self.kube.get_network_policy)
        rayjob = render_rayjob(planned, plan_uri, self.settings)
        checkpoints = checkpoint_cache.bucket_checkpoints(planned.spec)
        unsized = None
        if checkpoints:
            checkpoint_bytes, unsized = _checkpoint_bytes(checkpoints)
            rayjob = checkpoint_cache.with_checkpoint_cache(rayjob, checkpoint_bytes)
        self._create_or_adopt(ref, rayjob, self.kube.create_rayjob, self.kube.get_rayjob)
        rayjob_name = rayjob["metadata"]["name"]
        placed = placement.place(planned.spec)
        for warning in placement.warnings(planned.spec):
            kopf.event(body, type="Warning", reason="FewerTrialsAtOnce", message=warning)
        for field, warning in memory_checks.warnings(planned.spec):
            message = f"{path_text(('spec', *field))}: {warning}"
            kopf.event(body, type="Warning", reason="NearDeviceMemory", message=message)
        if unsized is not None:
            kopf.event(body, type="Warning", reason="CheckpointSizeUnknown", message=unsized)

        def change(old: TuningSweepStatus, clock: Clock) -> TuningSweepStatus:
            found = status.kuberay_found(old, clock)  # a sweep that waited for KubeRay hears it is there
            new = status.started(
                found, evidence_uri=root, rayjob_name=rayjob_name, placed=placed, clock=clock
            )
            if not same_plan(frozen, fresh):
                new = status.spec_changed(new, ["plan.json (frozen before) differs from the spec"], clock)
            return new

        self._update(ref, change)
        self.metrics.reconciled(ref.uid)

    def rayjob_changed(self, event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        rayjob = _plain(body)
        owner = controlling_sweep(rayjob)
        if owner is None:
            return
        sweep = self.kube.get_sweep(owner.namespace, owner.name)
        if sweep is None:
            return
        root = status.parse_status(sweep.get("status")).evidence_uri
        observed = None if event.get("type") == "DELETED" else rayjob
        self._observe(owner, rayjob["metadata"]["name"], observed, root, sweep)

    def reconcile(self, body: kopf.Body, rayjobs: kopf.Index[Any, Any], **_: Any) -> None:
        seen = _plain(body)
        current = status.parse_status(seen.get("status"))
        if status.recorded_start(current):
            self._reconcile(_ref(body), current, rayjobs, seen)

    def promote(self, body: kopf.Body, retry: int, **_: Any) -> None:
        ref = _ref(body)
        current = status.parse_status(_plain(body).get("status"))
        if current.phase is not Phase.promoting:
            return
        started = time.monotonic()
        root = current.evidence_uri
        sweep = self._frozen_sweep(ref, root, retry)  # what the sweep started with, not later edits
        cm_name = names.config_map_name(ref.name, sweep.spec.promotion.config_map_name)
        self._require_config_map_free(ref, cm_name)  # before anything lands in the bucket
        try:
            result = promotion.promote(root)
        except promotion.PromotionError as error:
            self._fail(ref, error.reason.value, str(error))
            raise kopf.PermanentError(f"{error.reason.value}: {error}") from None
        except bucket.BucketError as error:
            raise self._bucket_down(ref, error, retry) from None
        self._write_config_map(ref, build_config_map(sweep, cm_name, result.config_yaml, result.best_params))
        record = result.best_trial_record
        best = BestTrial(
            id=record.trial_id,
            params=record.params,
            primary_score=record.primary_score,
            test_score=record.test_score,
        )
        promoted_to = Promoted(config_map=cm_name, evidence_uri=layout.join(root, "promoted"))
        message = (
            f"promoted trial {best.id} (primary score {_score(best.primary_score)}, held-out test score "
            f"{_score(best.test_score)}) to ConfigMap {cm_name} and {promoted_to.evidence_uri}"
        )
        summary = self._summary_or_none(ref)

        def change(old: TuningSweepStatus, clock: Clock) -> TuningSweepStatus:
            counted = status.with_progress(old, summary, clock) if summary is not None else old
            return status.promoted(counted, best, promoted_to, message, clock)

        self._update(ref, change)
        self.metrics.promotion_seconds.observe(time.monotonic() - started)

    def spec_changed(self, body: kopf.Body, diff: kopf.Diff, **_: Any) -> None:
        current = status.parse_status(_plain(body).get("status"))
        if not current.evidence_uri:
            return  # no plan frozen yet: start() reads the new spec on its next attempt
        changed = sorted({".".join(["spec", *map(str, item[1])]) for item in diff})
        self._update(_ref(body), lambda old, clock: status.spec_changed(old, changed, clock))

    def sweep_seen(self, event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        uid = body.get("metadata", {}).get("uid", "")
        if event.get("type") == "DELETED":
            self.metrics.forget_sweep(uid)
        else:
            self.metrics.observe_sweep(uid, (body.get("status") or {}).get("phase", ""))

    # ---- steps ----

    def _reconcile(
        self, ref: SweepRef, current: TuningSweepStatus, rayjobs: kopf.Index[Any, Any], seen: dict[str, Any]
    ) -> None:
        """Level-triggered: the sweep's status recomputed from its RayJob and summary as they are now."""
        name = current.ray_job.name if current.ray_job else ""
        indexed = next(iter(rayjobs.get((ref.namespace, name), [])), None)
        # Not in the index yet (just created, the watch lags) or gone: ask the API server.
        rayjob = indexed if indexed is not None else self.kube.get_rayjob(ref.namespace, name)
        self._observe(ref, name, rayjob, current.evidence_uri, seen)
        self.metrics.reconciled(ref.uid)

    def _observe(
        self, ref: SweepRef, name: str, rayjob: dict[str, Any] | None, root: str, seen: dict[str, Any]
    ) -> None:
        """The sweep's status from its RayJob (None: deleted) and summary; `seen`: the sweep as last seen."""
        if rayjob is None:
            self._update(ref, lambda old, clock: status.rayjob_deleted(old, name, clock), seen)
            return
        outcome = status.rayjob_outcome(rayjob.get("status") or {})
        if not root or not status.driver_started(rayjob.get("status") or {}):
            self._update(ref, lambda old, clock: status.mirrored(old, rayjob, None, clock), seen)
            return
        try:
            summary = bucket.read_document(layout.join(root, layout.SWEEP_SUMMARY), SweepSummary)
        except bucket.ObjectNotFound:
            summary = None  # reachable; the driver has not written yet
        except bucket.BucketError as error:
            message = str(error)
            self._update(ref, lambda old, clock: status.evidence_unreachable(old, message, clock))
            if outcome.phase in (Phase.promoting, Phase.failed):
                return  # the verdict may be in the summary: decide once it can be read (next tick)
            self._update(ref, lambda old, clock: status.mirrored(old, rayjob, None, clock))
            return
        except bucket.DocumentError as error:
            log.warning("ignoring an invalid %s under %s: %s", layout.SWEEP_SUMMARY, root, error)
            summary = None
        self._update(
            ref,
            lambda old, clock: status.mirrored(status.evidence_reachable(old, clock), rayjob, summary, clock),
            seen,
        )
        if summary is not None and summary.status != "running" and ended_by_operator(rayjob):
            self._end_rayjob(ref, name)

    def _end_rayjob(self, ref: SweepRef, name: str) -> None:
        """Delete a RayJob whose driver recorded its verdict, when KubeRay cannot see its end (see
        `rayjob.ended_by_operator`); its Ray cluster and submitter go with it. A failure is retried
        on the next tick."""
        try:
            self.kube.delete_rayjob(ref.namespace, name)
        except ApiException as error:
            log.warning("could not delete RayJob %s/%s after its verdict: %s", ref.namespace, name, error)
            return
        log.info("RayJob %s/%s deleted: its driver recorded the verdict", ref.namespace, name)

    def _freeze_plan(self, plan_uri: str, fresh: Plan) -> Plan:
        """Write plan.json unless it exists; never rewrite it. Returns the plan as stored."""
        try:
            return bucket.read_document(plan_uri, Plan)
        except bucket.ObjectNotFound:
            bucket.write_document(plan_uri, fresh)
            return fresh

    def _frozen_sweep(self, ref: SweepRef, root: str, retry: int) -> TuningSweep:
        uri = layout.join(root, layout.PLAN)
        try:
            return frozen_sweep(bucket.read_document(uri, Plan))
        except bucket.ObjectNotFound:
            problem = f"{uri} is missing"
        except bucket.BucketError as error:
            raise self._bucket_down(ref, error, retry) from None
        except (bucket.DocumentError, ValidationError) as error:
            problem = f"{uri} is invalid: {error}"
        reason = promotion.PromotionRefusal.invalid_evidence.value
        self._fail(ref, reason, problem)
        raise kopf.PermanentError(problem)

    def _create_or_adopt(
        self,
        ref: SweepRef,
        body: dict[str, Any],
        create: Callable[[dict[str, Any]], None],
        get: Callable[[str, str], dict[str, Any] | None],
    ) -> None:
        """Create the sweep's child `body`, or adopt the one of its name that the sweep already owns
        (an earlier attempt made it); one that is someone else's fails the sweep."""
        kind, name = body["kind"], body["metadata"]["name"]
        try:
            create(body)
            return
        except ApiException as error:
            if error.status != 409:
                raise self._refused(ref, f"creating {kind} {ref.namespace}/{name}", error) from None
        existing = get(ref.namespace, name)
        if existing is None:
            raise kopf.TemporaryError(f"{kind} {name} existed a moment ago; retrying", delay=BACKOFF_SECONDS)
        if not owned_by(existing, ref.uid):
            message = f"{kind} {name} already exists and is not owned by this sweep; delete or rename it"
            self._fail(ref, status.RAYJOB_CONFLICT, message)
            raise kopf.PermanentError(message)

    def _ensure_ray_auth_secret(self, ref: SweepRef, sweep: TuningSweep) -> None:
        """The sweep's token Secret: created once with a fresh token, never rewritten, never logged.

        The operator may create Secrets but not read any (its RBAC holds no `get` on them): a 409
        means the Secret of this uid-derived name is there already, this sweep's own from an earlier
        attempt. Whoever could have made it first may read that namespace's Secrets anyway."""
        body = render_ray_auth_secret(sweep, secrets.token_urlsafe(32))
        try:
            self.kube.create_secret(body)
        except ApiException as error:
            if error.status != 409:
                raise self._refused(
                    ref, f"creating Secret {ref.namespace}/{body['metadata']['name']}", error
                ) from None

    def _warm_start_sources(self, ref: SweepRef, spec: TuningSweepSpec) -> list[WarmStartSourceRef]:
        """spec.warmStart resolved: a named sweep still running makes this one wait (retried every
        progress interval); one missing or failed refuses it."""
        try:
            return warm_start.resolve(
                spec, ref.namespace, ref.name, lambda name: self.kube.get_sweep(ref.namespace, name)
            )
        except warm_start.WarmStartWaiting as waiting:
            message = str(waiting)
            self._update(ref, lambda old, clock: status.waiting(old, warm_start.WAITING, message, clock))
            raise kopf.TemporaryError(message, delay=self.settings.progress_interval_seconds) from None
        except WarmStartError as error:
            self._fail(ref, error.code, error.detail)
            raise kopf.PermanentError(str(error)) from None

    def _require_kuberay(self, ref: SweepRef) -> None:
        """Without KubeRay's CRDs the sweep waits (Pending, KubeRayReady=False) and is retried every
        progress interval, so it starts by itself once they are installed."""
        if self.kube.rayjobs_served():
            return
        message = kuberay_missing_message()
        self._update(ref, lambda old, clock: status.kuberay_missing(old, message, clock))
        raise kopf.TemporaryError(message, delay=self.settings.progress_interval_seconds)

    def _require_config_map_free(self, ref: SweepRef, name: str) -> None:
        try:
            existing = self.kube.get_config_map(ref.namespace, name)
        except ApiException as error:
            raise self._refused(ref, f"reading ConfigMap {ref.namespace}/{name}", error) from None
        if existing is not None and not owned_by(existing, ref.uid):
            raise self._config_map_conflict(ref, name)

    def _write_config_map(self, ref: SweepRef, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        try:
            self.kube.create_config_map(body)
            return
        except ApiException as error:
            if error.status != 409:
                raise self._refused(ref, f"creating ConfigMap {ref.namespace}/{name}", error) from None
        existing = self.kube.get_config_map(ref.namespace, name)
        if existing is None or not owned_by(existing, ref.uid):
            raise self._config_map_conflict(ref, name)
        # Ours from an earlier attempt (the operator restarted mid-promotion): bring it up to date.
        self.kube.replace_config_map(body, existing["metadata"]["resourceVersion"])

    def _require_ray_service_account(self, ref: SweepRef) -> None:
        account = self.settings.ray_service_account
        if not account:
            return
        try:
            exists = self.kube.service_account_exists(ref.namespace, account)
        except ApiException as error:
            raise self._refused(ref, f"reading ServiceAccount {ref.namespace}/{account}", error) from None
        if not exists:
            message = (
                f"ServiceAccount {account} (the chart's ray.serviceAccount, which the Ray pods run as) does "
                f"not exist in namespace {ref.namespace}, so KubeRay could not create the Ray head: create "
                "it there, or change ray.serviceAccount"
            )
            self._fail(ref, status.RAY_SERVICE_ACCOUNT_MISSING, message)
            raise kopf.PermanentError(message)

    def _refused(self, ref: SweepRef, action: str, error: ApiException) -> Exception:
        """A 4xx is final (RBAC, admission, validation): say so in the status and stop; anything
        else is kopf's to retry."""
        said = k8s.refusal(error)
        if said is None:
            return error
        message = f"the API server refused {action}: {said}"
        self._fail(ref, status.API_REFUSED, message)
        return kopf.PermanentError(message)

    def _config_map_conflict(self, ref: SweepRef, name: str) -> kopf.PermanentError:
        message = (
            f"ConfigMap {name} exists and is not owned by this sweep; it was left untouched and nothing "
            "was promoted (set spec.promotion.configMapName to a free name or remove that ConfigMap)"
        )
        self._fail(ref, status.CONFIG_MAP_CONFLICT, message)
        return kopf.PermanentError(message)

    def _summary_or_none(self, ref: SweepRef) -> SweepSummary | None:
        sweep = self.kube.get_sweep(ref.namespace, ref.name)
        root = status.parse_status((sweep or {}).get("status")).evidence_uri
        if not root:
            return None
        try:
            return bucket.read_document(layout.join(root, layout.SWEEP_SUMMARY), SweepSummary)
        except (bucket.BucketError, bucket.DocumentError) as error:
            log.info("no usable sweep summary under %s: %s", root, error)
            return None

    def _invalid(self, ref: SweepRef, problems: list[str]) -> kopf.PermanentError:
        message = "invalid spec: " + "; ".join(problems)
        self._fail(ref, status.INVALID_SPEC, message)
        return kopf.PermanentError(message)

    def _unshared_evidence(self, ref: SweepRef, message: str) -> kopf.PermanentError:
        reason = status.FILE_EVIDENCE_NOT_SHARED

        def change(old: TuningSweepStatus, clock: Clock) -> TuningSweepStatus:
            return status.failed(
                status.evidence_unreachable(old, message, clock, reason), reason, message, clock
            )

        self._update(ref, change)
        return kopf.PermanentError(message)

    def _bucket_down(self, ref: SweepRef, error: bucket.BucketError, retry: int) -> kopf.TemporaryError:
        message = str(error)
        self._update(ref, lambda old, clock: status.evidence_unreachable(old, message, clock))
        delay = min(BACKOFF_SECONDS * 2**retry, BACKOFF_MAX_SECONDS)
        return kopf.TemporaryError(
            f"evidence location unreachable, retrying in {delay:.0f}s: {error}", delay=delay
        )

    def _fail(self, ref: SweepRef, reason: str, message: str) -> None:
        self._update(ref, lambda old, clock: status.failed(old, reason, message, clock))

    def _update(self, ref: SweepRef, change: Change, seen: dict[str, Any] | None = None) -> None:
        """Write the changed status (unless the sweep is gone or going) and announce its transitions."""

        def apply(old: TuningSweepStatus, sweep: dict[str, Any]) -> TuningSweepStatus:
            if sweep["metadata"].get("deletionTimestamp"):
                return old
            return change(old, Clock(generation=int(sweep["metadata"].get("generation") or 0), now=_now()))

        outcome = self.kube.update_sweep_status(ref.namespace, ref.name, ref.uid, apply, seen)
        if outcome is None:
            return
        old, new, sweep = outcome
        self.metrics.observe_sweep(ref.uid, new.phase.value)
        target = kopf.Body(cast(kopf.RawBody, sweep))
        for event in transition_events(old, new):
            kopf.event(target, type=event.type, reason=event.reason, message=event.message)


def _checkpoint_bytes(uris: list[str]) -> tuple[int | None, str | None]:
    """What the trials copy of the bucket checkpoints, in bytes; None and the Warning's words when the
    operator cannot list them (no access with its credentials): the sweep runs without the request."""
    try:
        return checkpoint_cache.cache_bytes({uri: bucket.file_sizes(uri) for uri in uris}), None
    except (bucket.BucketError, checkpoint_cache.CheckpointSizeUnknown) as error:
        return None, checkpoint_cache.unknown_size_message(uris, str(error))


def kuberay_missing_message() -> str:
    return (
        f"KubeRay's CRDs ({k8s.RAY_GROUP}/{k8s.RAY_VERSION} RayJob) are not installed, so no Ray cluster "
        "can be made; install KubeRay's operator: helm repo add kuberay https://ray-project.github.io/"
        f"kuberay-helm/ && helm install kuberay-operator kuberay/kuberay-operator --version "
        f"{k8s.KUBERAY_VERSION}. The sweep starts once they are there"
    )


def _instrumented(name: str, fn: Callable[..., None], metrics: OperatorMetrics) -> Callable[..., None]:
    """Count a handler's failures by kind; kopf logs and retries them as usual."""

    @functools.wraps(fn)
    def handler(**kwargs: Any) -> None:
        try:
            fn(**kwargs)
        except kopf.TemporaryError:
            metrics.reconcile_errors.labels(name, "temporary").inc()
            raise
        except kopf.PermanentError:
            metrics.reconcile_errors.labels(name, "permanent").inc()
            raise
        except Exception:
            metrics.reconcile_errors.labels(name, "unexpected").inc()
            raise

    return handler


def _rayjob_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], Any]:
    """What the reconcile reads of a RayJob (its name, auth mode, deletion and status), not the whole
    object."""
    meta = body["metadata"]
    kept_meta = {"name": meta["name"], "namespace": meta["namespace"]}
    auth = (meta.get("annotations") or {}).get(RAY_AUTH_ANNOTATION)
    if auth:
        kept_meta["annotations"] = {RAY_AUTH_ANNOTATION: auth}
    if meta.get("deletionTimestamp"):
        kept_meta["deletionTimestamp"] = meta["deletionTimestamp"]
    kept = {"metadata": kept_meta, "status": _plain(body).get("status")}
    return {(meta["namespace"], meta["name"]): kept}


def _in_progress(body: kopf.Body, **_: Any) -> bool:
    return (body.get("status") or {}).get("phase") in (Phase.provisioning.value, Phase.running.value)


def _ref(body: kopf.Body) -> SweepRef:
    meta = body["metadata"]
    return SweepRef(meta["namespace"], meta["name"], meta["uid"])


def _plain(body: kopf.Body) -> dict[str, Any]:
    return copy.deepcopy(dict(body))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _score(score: float | None) -> str:
    return "null" if score is None else f"{score:.4f}"
