#!/usr/bin/env bash
# images.sh (make images): build, and with PUSH=1 push, tunesweep's images under the names the chart runs.
#
#   make images REGISTRY=registry.example.com/team [TAG=0.1.0] [PUSH=1] [TARGETS="operator trainer-cpu"]
#
# Names: the chart's own. The image names are the last part of `image.repository` and
# `trainer.repository` in charts/tunesweep/values.yaml, TAG defaults to the chart's appVersion, and the
# trainer images are tagged <TAG>-cpu, -cuda, -tpu, as the chart's tunesweep.trainerImage helper expects:
#   operator      REGISTRY/tunesweep-operator:TAG
#   trainer-cpu   REGISTRY/tunesweep-trainer:TAG-cpu     (and trainer-cuda, trainer-tpu the same way)
# With REGISTRY set to the registry of the chart's defaults and no TAG, these are the chart's defaults;
# otherwise the script prints the `--set` flags that point the chart at what it built.
#
# Environment: REGISTRY (required), TAG, PUSH (1: push each image once built), TARGETS (the Dockerfile
# targets to build, default all four; cuda and tpu are GBs), PLATFORM (docker build --platform, e.g.
# linux/amd64 on an ARM laptop), DOCKER (default docker), DRY_RUN (1: print the commands, run none).
# Needs Docker with BuildKit (the Dockerfile uses RUN --mount). tests/ship/test_scripts.py runs this
# with DRY_RUN=1 and checks the names against the chart as helm renders it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="$root/charts/tunesweep"
all_targets=(operator trainer-cpu trainer-cuda trainer-tpu)

die() { printf 'images: %s\n' "$*" >&2; exit 2; }

# The `repository:` under top-level key $1 of the chart's values.yaml.
values_repository() {
  awk -v key="$1:" '/^[^ #]/ { inside = ($1 == key) } inside && $1 == "repository:" { print $2; exit }' \
    "$chart/values.yaml"
}
operator_default="$(values_repository image)"
trainer_default="$(values_repository trainer)"
app_version="$(awk '$1 == "appVersion:" { gsub(/"/, "", $2); print $2; exit }' "$chart/Chart.yaml")"
[[ -n "$operator_default" && -n "$trainer_default" && -n "$app_version" ]] \
  || die "could not read image.repository, trainer.repository or appVersion from $chart"
default_registry="${operator_default%/*}"

registry="${REGISTRY:-}"
registry="${registry%/}"
[[ -n "$registry" ]] || die "REGISTRY is not set: say where the images go, e.g.
  make images REGISTRY=$default_registry            (the chart's default image names)
  make images REGISTRY=registry.example.com/team    (yours; install the chart with the --set flags printed at the end)"
[[ "$registry" =~ ^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$ ]] \
  || die "REGISTRY=$registry is not a registry host with an optional path (e.g. registry.example.com/team); give no image name or tag"
tag="${TAG:-$app_version}"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}$ ]] \
  || die "TAG=$tag is not a Docker tag (letters, digits, _ . -; not starting with . or -)"
case "${PUSH:-}" in
  "" | 0) push=0 ;;
  1) push=1 ;;
  *) die "PUSH=${PUSH} must be 1 (push) or empty (build only)" ;;
esac

read -r -a targets <<<"${TARGETS:-${all_targets[*]}}"
[[ ${#targets[@]} -gt 0 ]] || die "TARGETS is empty: name some of ${all_targets[*]}"
for target in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $target "* ]] || die "TARGETS: unknown target $target; choose from ${all_targets[*]}"
done

image_name() { # the name the chart runs for Dockerfile target $1
  case "$1" in
    operator) echo "$registry/${operator_default##*/}:$tag" ;;
    trainer-*) echo "$registry/${trainer_default##*/}:$tag-${1#trainer-}" ;;
  esac
}

run() {
  if [[ "${DRY_RUN:-}" == 1 ]]; then
    local line
    line="$(printf '%q ' "$@")"
    echo "${line% }"
  else
    "$@"
  fi
}

docker="${DOCKER:-docker}"
if [[ "${DRY_RUN:-}" != 1 ]]; then
  command -v "$docker" >/dev/null 2>&1 || die "$docker is not on PATH: install Docker (https://docs.docker.com/get-docker/) or set DOCKER"
fi
export DOCKER_BUILDKIT=1
platform=()
[[ -z "${PLATFORM:-}" ]] || platform=(--platform "$PLATFORM")

for target in "${targets[@]}"; do
  image="$(image_name "$target")"
  run "$docker" build "${platform[@]}" --target "$target" --tag "$image" "$root"
  [[ $push == 0 ]] || run "$docker" push "$image"
done

# How to install the chart with these images: nothing to set when they are its defaults.
flags=()
[[ "$registry/${operator_default##*/}" == "$operator_default" ]] || flags+=(--set "image.repository=$registry/${operator_default##*/}")
[[ "$registry/${trainer_default##*/}" == "$trainer_default" ]] || flags+=(--set "trainer.repository=$registry/${trainer_default##*/}")
[[ "$tag" == "$app_version" ]] || flags+=(--set "image.tag=$tag" --set "trainer.tag=$tag")
if [[ ${#flags[@]} == 0 ]]; then
  echo "# these are the chart's default images: install it with no image values"
else
  echo "# install the chart with these images:"
  echo "helm install tunesweep charts/tunesweep -n tunesweep-system --create-namespace$(printf ' %q' "${flags[@]}")"
fi
