#!/usr/bin/env bash
# docker-install.sh TARGET [UV_SYNC_ARGS...]: install one image's Python environment from uv.lock.
#
# The one install step of every image: the Dockerfile RUNs it, and tests/ship/test_dockerfile.py runs
# the Dockerfile's RUN lines as written (in a temporary venv), so what is tested is what is built.
#   TARGET: operator | trainer-cpu | trainer-cuda | trainer-tpu (the Dockerfile's targets)
#   UV_PROJECT_ENVIRONMENT: the environment to create (the Dockerfile sets /opt/venv).
#   UV: the uv to run, by exact path (the tests pass the Makefile's pinned one); default: `uv` on PATH,
#     which in the Dockerfile's builder stage is the pinned uv it pip-installs.
# --locked: uv.lock must agree with every pyproject.toml (a stale lock fails the build, never re-resolves).
# --no-editable: the workspace packages are installed as wheels, so the image needs no source tree.
# --reinstall-package: uv's cache keys a local package's wheel on its pyproject.toml only; without it a
#   warm cache (Docker's cache mount, a developer's machine) installs a wheel of older sources.
set -euo pipefail

target="${1:-}"
shift || true
case "$target" in
  operator) selection=(--package tunesweep-operator) ;;
  trainer-cpu) selection=(--package tunesweep-trainer) ;;
  trainer-cuda) selection=(--package tunesweep-trainer --extra cuda) ;;
  trainer-tpu) selection=(--package tunesweep-trainer --extra tpu) ;;
  *)
    echo "usage: $0 operator|trainer-cpu|trainer-cuda|trainer-tpu [uv sync args...]" >&2
    exit 2
    ;;
esac
: "${UV_PROJECT_ENVIRONMENT:?set UV_PROJECT_ENVIRONMENT to the environment to create}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
workspace=(tunesweep-evidence tunesweep-operator tunesweep-trainer)
exec "${UV:-uv}" sync --locked --no-dev --no-editable "${selection[@]}" "${workspace[@]/#/--reinstall-package=}" "$@"
