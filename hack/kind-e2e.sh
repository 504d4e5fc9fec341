#!/usr/bin/env bash
# kind-e2e.sh (make kind-e2e): tunesweep end to end on a local kind cluster, for a machine with Docker.
#
#   1. creates kind cluster $KIND_CLUSTER (manifests/kind/cluster.yaml: a host folder for file:// evidence)
#   2. installs KubeRay's operator with Helm (chart kuberay/kuberay-operator, the KubeRay version the
#      tests build and run: the one pin in hack/tools/kuberay/go.mod)
#   3. builds the operator and trainer-cpu images (Dockerfile) and loads them into the cluster
#   4. installs charts/tunesweep with manifests/kind/values.yaml (the values tests/ship applies too) and
#      waits for the operator to be ready
#   5. waits for its admission webhook to admit manifests/samples/sweep-mock.yaml (CPU mock trainer),
#      applies it, waits for phase Succeeded and prints the promoted ConfigMap; the evidence is in the
#      host folder afterwards
#
# Needs docker (a running engine), kind, kubectl, helm. It does NOT run in the repository's test suite
# (no Docker engine there); tests/ship checks what can be checked without one: shellcheck, the paths
# and values used here, and the same chart values applied to a real API server with the operator.
# Re-running reuses the cluster (the sweep is recreated). Remove it: kind delete cluster --name tunesweep
# Environment: KIND_CLUSTER (tunesweep), TIMEOUT (the sweep's wait, 20m).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER:-tunesweep}"
timeout="${TIMEOUT:-20m}"
kind_config="$root/manifests/kind/cluster.yaml"
values="$root/manifests/kind/values.yaml"
chart="$root/charts/tunesweep"
sample="$root/manifests/samples/sweep-mock.yaml"
release=tunesweep
namespace=tunesweep-system
sweep_namespace=default

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }

# -- prerequisites ----------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not on PATH: $2"; }
need docker "https://docs.docker.com/get-docker/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need helm "https://helm.sh/docs/intro/install/"
docker info >/dev/null 2>&1 || die "docker cannot reach a Docker engine (is it running? may this user use it?)"

kuberay_pin="$root/hack/tools/kuberay/go.mod"
kuberay_version="$(awk '$1 == "require" && $2 == "github.com/ray-project/kuberay/ray-operator" { sub(/^v/, "", $3); print $3 }' "$kuberay_pin")"
[[ -n "$kuberay_version" ]] || die "no require of github.com/ray-project/kuberay/ray-operator in $kuberay_pin"
# The host folder cluster.yaml mounts into the node (its one extraMount).
evidence_dir="$(sed -n 's/^ *- hostPath: *//p' "$kind_config")"
[[ -n "$evidence_dir" ]] || die "no extraMounts hostPath in $kind_config"

# Image names as the chart renders them with the kind values: what the operator will run and use.
rendered="$(helm template "$release" "$chart" --namespace "$namespace" -f "$values")"
rendered_value() { # the value of env var $1 in the rendered operator Deployment
  awk -v name="$1" '$0 ~ "- name: " name "$" { getline; sub(/^ *value: */, ""); gsub(/"/, ""); print; exit }' <<<"$rendered"
}
operator_image="$(rendered_value TUNESWEEP_OPERATOR_IMAGE)"
trainer_image="$(rendered_value TUNESWEEP_TRAINER_IMAGE_CPU)"
[[ -n "$operator_image" && -n "$trainer_image" ]] || die "could not read the image names from the rendered chart"

# -- 1. cluster --------------------------------------------------------------------------------------------
log "kind cluster $cluster (evidence folder $evidence_dir)"
mkdir -p "$evidence_dir"
chmod 1777 "$evidence_dir" # the images run as uid 65532; hostPath volumes ignore fsGroup
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "reusing the existing cluster"
else
  kind create cluster --name "$cluster" --config "$kind_config" --wait 120s
fi
kubectl config use-context "kind-$cluster" >/dev/null

# -- 2. KubeRay --------------------------------------------------------------------------------------------
log "KubeRay operator $kuberay_version"
helm repo add kuberay https://ray-project.github.io/kuberay-helm/ --force-update >/dev/null
helm upgrade --install kuberay-operator kuberay/kuberay-operator --version "$kuberay_version" \
  --namespace kuberay-system --create-namespace --wait --timeout 5m

# -- 3. images ---------------------------------------------------------------------------------------------
log "images $operator_image and $trainer_image"
docker build --target operator --tag "$operator_image" "$root"
docker build --target trainer-cpu --tag "$trainer_image" "$root"
kind load docker-image --name "$cluster" "$operator_image" "$trainer_image"

# -- 4. tunesweep ------------------------------------------------------------------------------------------
log "tunesweep chart (release $release in $namespace)"
helm upgrade --install "$release" "$chart" --namespace "$namespace" --create-namespace \
  -f "$values" --wait --timeout 5m
# Available: the operator's readiness probe (/readyz) passes, i.e. it reaches KubeRay's CRDs.
kubectl wait --namespace "$namespace" "deployment/$release" --for=condition=Available --timeout 5m

# -- 5. the mock sweep -------------------------------------------------------------------------------------
log "sample sweep $sample"
kubectl delete --namespace "$sweep_namespace" -f "$sample" --ignore-not-found --wait
# The admission webhook (failurePolicy Fail) refuses every sweep until the operator serves it, which can
# be a little after its readiness probe (/readyz) passes: wait until the API server admits the sample
# (a new one: an unchanged spec would not be sent to the webhook).
deadline=$((SECONDS + 120))
until refusal="$(kubectl create --dry-run=server --namespace "$sweep_namespace" -f "$sample" 2>&1 >/dev/null)"; do
  ((SECONDS < deadline)) || die "the API server does not admit $sample: $refusal"
  sleep 2
done
sweep="$(kubectl apply --namespace "$sweep_namespace" -f "$sample" -o name)"
if ! kubectl wait --namespace "$sweep_namespace" "$sweep" --timeout "$timeout" \
  --for=jsonpath='{.status.phase}'=Succeeded; then
  log "the sweep did not succeed within $timeout; what there is:"
  kubectl get --namespace "$sweep_namespace" "$sweep" -o yaml || true
  kubectl get --namespace "$sweep_namespace" rayjobs,rayclusters,pods || true
  kubectl logs --namespace "$namespace" "deployment/$release" --tail 100 || true
  exit 1
fi
kubectl get --namespace "$sweep_namespace" "$sweep"
config_map="$(kubectl get --namespace "$sweep_namespace" "$sweep" -o jsonpath='{.status.promoted.configMap}')"
log "promoted ConfigMap $config_map"
kubectl get --namespace "$sweep_namespace" configmap "$config_map" -o yaml
log "evidence: $evidence_dir (host), $(kubectl get --namespace "$sweep_namespace" "$sweep" -o jsonpath='{.status.evidenceURI}') (pods)"
