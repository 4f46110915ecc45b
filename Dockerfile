# syntax=docker/dockerfile:1
# tierguard's image: `tierguard run`, the admission webhook the Helm chart deploys (charts/tierguard).
#
#   docker build -t tierguard:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg SOURCE=<repository URL> --build-arg REVISION=$(git rev-parse HEAD) .
#
# Two stages: the build stage turns the repository into wheels (tierguard and every dependency); the final
# stage installs those wheels with no compiler, no build tools and no pip cache, and runs as a numeric non-root
# user so that Kubernetes can verify runAsNonRoot without reading the image. tests/chart/test_image_install.py
# performs the same install steps in a fresh virtualenv, since CI has no Docker engine.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: wheels for tierguard and its dependencies ---------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the package build reads (see .dockerignore); README* may be absent.
COPY pyproject.toml README* ./
COPY operator/ operator/
RUN pip wheel --wheel-dir /wheels . \
 && pip install --no-index --find-links /wheels --prefix /install tierguard

# ---- final: the installed packages on a clean interpreter -------------------------------------------------
FROM ${PYTHON_IMAGE}
# OCI labels: pass the real values when building a release.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="tierguard" \
      org.opencontainers.image.description="Kubernetes admission webhook: tier isolation of secrets and security-sidecar parity" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# MALLOC_ARENA_MAX: the watches' short-lived threads would each get a malloc arena of their own; two keep
# about 7 MB of a replica's memory at 100k indexed Secrets (bench/README.md).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
# site-packages and the `tierguard` console script, into the interpreter's own prefix.
COPY --from=build /install /usr/local
# Numeric, matching the chart's runAsUser; no home directory or shell login needed.
USER 65532:65532
# 8443: admission webhook (HTTPS); 8080: /metrics, /healthz, /readyz (HTTP).
EXPOSE 8443 8080
ENTRYPOINT ["tierguard", "run"]
