#!/usr/bin/env bash
# dev-cluster.sh [--kubeconfig PATH] (make dev-cluster): tunesweep to try with kubectl, without Docker.
#
# It is the tests' control plane, NOT a real cluster: real etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and KubeRay's operator on 127.0.0.1 (built from pinned Go modules by
# hack/controlplane/ensure-assets.sh), a kubelet stand-in that runs each Pod's containers as local
# processes from this repository's .venv (no images), and the tunesweep operator serving namespace
# `default`. It runs in the foreground until Ctrl-C, then stops all of it. The code is the tests' own:
# tests/support/dev_cluster.py puts tests/support's pieces together.
#
# Needs Linux, root, `ip` (iproute2) and `unshare` (util-linux): the kubelet stand-in gives each Pod a
# network namespace of its own. TUNESWEEP_ASSETS: a directory of already built binaries (else built here).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"

die() { printf 'dev-cluster: %s\n' "$*" >&2; exit 1; }

[[ -x "$python" ]] || die "$python is missing: run make setup (make dev-cluster runs it first)"
[[ "$(uname -s)" == Linux ]] || die "the kubelet stand-in needs Linux network namespaces; on $(uname -s), use kind (make kind-e2e)"
[[ $EUID == 0 ]] || die "the kubelet stand-in creates a network namespace per Pod, which needs root: run it as root"
for tool in ip unshare; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH (ip: iproute2, unshare: util-linux)"
done

assets="${TUNESWEEP_ASSETS:-$("$root/hack/controlplane/ensure-assets.sh" | tail -n 1)}"
cd "$root"
TUNESWEEP_ASSETS="$assets" exec "$python" -m tests.support.dev_cluster "$@"
