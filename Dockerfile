# syntax=docker/dockerfile:1.7
# tunesweep's images, one file. `make images REGISTRY=...` builds them under the chart's names (hack/images.sh);
# one by hand: `docker build --target TARGET -t IMAGE .`:
#   operator      the kopf operator: tunesweep-operator + tunesweep-evidence only (no JAX, no Ray)
#   trainer-cpu   the trainer and sweep driver (JAX on CPU, Ray Tune): KubeRay starts `ray start` in it
#                 (Ray head and workers) and runs the RayJob entrypoint `tunesweep drive --plan URI`
#   trainer-cuda  the same with jax[cuda12] (the trainer's `cuda` extra)
#   trainer-tpu   the same with jax[tpu] (the trainer's `tpu` extra)
# `docker build .` without --target builds the operator (the last stage).
#
# Every Python environment comes from uv.lock through hack/docker-install.sh. tests/ship runs this file's
# docker-install.sh RUN lines as written and the images' entrypoints, and lints it with hadolint.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# Runtime base of every image: a non-root user and nothing written outside /tmp, so the containers run
# with readOnlyRootFilesystem and an emptyDir on /tmp. Bytecode is compiled at build time instead.
FROM ${PYTHON_IMAGE} AS base
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 65532 tunesweep \
 && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin tunesweep

# Installs one environment into /opt/venv; only that folder reaches an image. The uv cache is a
# BuildKit cache mount, so rebuilding after a source change re-links wheels instead of downloading them.
FROM base AS builder
# Keep in step with the Makefile's UV_VERSION (tests/ship checks it).
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_CACHE_DIR=/var/cache/uv
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY hack/docker-install.sh hack/
COPY evidence/ evidence/
COPY operator/ operator/
COPY trainer/ trainer/

FROM builder AS operator-env
RUN --mount=type=cache,target=/var/cache/uv hack/docker-install.sh operator

FROM builder AS trainer-cpu-env
RUN --mount=type=cache,target=/var/cache/uv hack/docker-install.sh trainer-cpu

FROM builder AS trainer-cuda-env
RUN --mount=type=cache,target=/var/cache/uv hack/docker-install.sh trainer-cuda

FROM builder AS trainer-tpu-env
RUN --mount=type=cache,target=/var/cache/uv hack/docker-install.sh trainer-tpu

# Common to the trainer images. KubeRay (v1.5) probes Ray containers with `wget` (exec probes) and
# replaces the command with `ray start ...` (from /opt/venv/bin). Trials on one Ray node share the
# JAX compile cache, so a shape compiled by one trial is not compiled again by the next.
FROM base AS trainer
# Debian's wget comes from the pinned base image's suite; its security updates replace exact versions.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends wget \
 && rm -rf /var/lib/apt/lists/*
ENV TUNESWEEP_COMPILE_CACHE=/tmp/tunesweep/jax-cache
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["tunesweep"]
CMD ["--help"]

FROM trainer AS trainer-cpu
COPY --from=trainer-cpu-env /opt/venv /opt/venv

FROM trainer AS trainer-cuda
COPY --from=trainer-cuda-env /opt/venv /opt/venv

FROM trainer AS trainer-tpu
COPY --from=trainer-tpu-env /opt/venv /opt/venv

FROM base AS operator
COPY --from=operator-env /opt/venv /opt/venv
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["tunesweep", "operator"]
