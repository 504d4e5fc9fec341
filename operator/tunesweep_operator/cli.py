"""`tunesweep operator`: the operator's entry point (the operator image's container command).

    tunesweep operator --namespace team-a --namespace team-b
    tunesweep operator --all-namespaces --liveness-port 8080 --metrics-port 9090

Logs are JSON lines on stderr. The operator runs standalone (no kopf peering: one replica) unless
--peering names a KopfPeering object, which needs kopf's peering CRD and extra RBAC rules.
"""

from __future__ import annotations

import argparse
import functools

import kopf

from .admission import WebhookSettings, register_admission
from .handlers import ROUTINE_HANDLERS, Deps, kuberay_missing_message, register_handlers
from .kopf_settings import configure, quiet_routine_successes
from .kube import Kube, new_api_client
from .memory import cap_malloc_arenas
from .metrics import OperatorMetrics
from .settings import OperatorSettings, SettingsError
from .settings_table import settings_help


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "operator",
        help="run the TuningSweep operator",
        description=__doc__,
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="serve this namespace (repeatable); default: TUNESWEEP_NAMESPACES",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="serve every namespace")
    parser.add_argument("--liveness-port", type=int, default=8080, help="GET /healthz (default 8080)")
    parser.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus /metrics (default 9090; 0: off)"
    )
    parser.add_argument("--peering", metavar="NAME", default="", help="kopf peering object (default: none)")
    parser.add_argument("--verbose", action="store_true", help="debug logs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = OperatorSettings.from_env()
        webhook = WebhookSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"tunesweep operator: {error}") from None
    namespaces = list(args.namespaces or ())
    everywhere = args.all_namespaces or (not namespaces and settings.namespaces == ("*",))
    if not namespaces and not everywhere:
        namespaces = list(settings.namespaces)
    if not namespaces and not everywhere:
        raise SystemExit(
            "tunesweep operator: say which namespaces to serve: --namespace NS (repeatable), "
            "--all-namespaces, or TUNESWEEP_NAMESPACES"
        )
    cap_malloc_arenas()  # before kopf starts its handler threads
    kopf.configure(log_format=kopf.LogFormat.JSON, verbose=args.verbose)
    quiet_routine_successes(ROUTINE_HANDLERS)
    metrics = OperatorMetrics()
    kube = Kube(new_api_client())
    if args.metrics_port:
        metrics.serve(args.metrics_port, functools.partial(not_ready, kube))
    registry = kopf.OperatorRegistry()
    # Logs in as the kubernetes client does: in a Pod its service account, elsewhere $KUBECONFIG.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.on.startup(registry=registry)(configure)
    register_handlers(registry, Deps(settings=settings, kube=kube, metrics=metrics))
    if webhook is not None:
        register_admission(registry, settings, webhook)
    kopf.run(
        registry=registry,
        standalone=not args.peering,
        peering_name=args.peering or None,
        clusterwide=everywhere,
        namespaces=[] if everywhere else namespaces,
        liveness_endpoint=f"http://0.0.0.0:{args.liveness_port}/healthz",
    )
    return 0


def not_ready(kube: Kube) -> str | None:
    """Why the operator cannot serve sweeps now (GET /readyz), or None."""
    try:
        return None if kube.rayjobs_served() else kuberay_missing_message()
    except Exception as error:  # the API server is unreachable: not ready, and say why
        return f"cannot reach the API server: {error}"
