# syntax=docker/dockerfile:1
# The oma-gateway image. What each choice is for: deploy/README.md ("The image").
#
#   docker build -t oma-gateway .
#   docker run --rm -v "$PWD/config.yaml:/etc/oma-gateway/config.yaml:ro" \
#       -e OMA_PASSWORD_A -p 8080:8080 -p 9090:9090 oma-gateway
#
# Both stages use the same base so the venv built in one runs unchanged in the other. Pin it by
# digest for releases: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Locked dependencies first, so this layer is rebuilt only when a lock file changes. Hashes are
# required and only wheels are taken: nothing unpinned or compiled enters the image.
# TRACING=true adds the OpenTelemetry SDK and OTLP exporter (the `otel` extra), which
# `tracing.otlp_endpoint` needs: docker build --build-arg TRACING=true .
ARG TRACING=false
COPY deploy/requirements.lock deploy/requirements-otel.lock deploy/requirements-build.lock deploy/
RUN python -m venv /opt/oma-gateway \
    && /opt/oma-gateway/bin/pip install --require-hashes --only-binary=:all: \
        -r deploy/requirements.lock \
    && if [ "${TRACING}" = true ]; then \
        /opt/oma-gateway/bin/pip install --require-hashes --only-binary=:all: \
            -r deploy/requirements-otel.lock; \
    fi \
    && python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --only-binary=:all: \
        -r deploy/requirements-build.lock
COPY pyproject.toml README.md ./
COPY gateway ./gateway
# The source revision for build_info and the startup line: docker build --build-arg
# REVISION="$(git rev-parse --short=12 HEAD)" .
ARG REVISION=unknown
RUN printf '%s\n' "${REVISION}" > gateway/REVISION
# The project goes in as a wheel with --no-deps: every dependency came from the lock above, and
# `pip check` fails the build if the lock no longer satisfies pyproject.toml. pip and setuptools
# are then removed from the runtime venv: the running gateway never installs anything.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/oma-gateway/bin/pip install --no-deps /wheels/*.whl \
    && /opt/oma-gateway/bin/pip check \
    && /opt/oma-gateway/bin/oma-gateway --version \
    && /opt/oma-gateway/bin/pip uninstall --yes setuptools pip

FROM ${PYTHON_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM/SIGHUP to the gateway and reaps orphaned children, which a
# Python process running as PID 1 would not do (see deploy/README.md, "Signals and PID 1").
RUN apt-get update \
    && apt-get install --yes --no-install-recommends "tini=0.19.0-1*" \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 oma \
    && useradd --system --uid 10001 --gid oma --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin oma \
    && install --directory --owner=root --group=oma --mode=0750 /etc/oma-gateway \
    && install --directory --owner=oma --group=oma --mode=0750 /var/log/oma-gateway
COPY --from=builder /opt/oma-gateway /opt/oma-gateway
ENV PATH=/opt/oma-gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMA_GATEWAY_HEALTHCHECK_URL=http://127.0.0.1:9090/healthz
# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# 8080: callers (POST /api/{method}); 9090: admin (/healthz, /readyz, /metrics). The config's
# `listen` and `admin_listen` must bind 0.0.0.0 on these ports for them to be reachable.
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
# No curl in the image: the standard library asks the admin port, bypassing any proxy settings.
# Set OMA_GATEWAY_HEALTHCHECK_URL when admin_listen uses another port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open(os.environ['OMA_GATEWAY_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--", "oma-gateway"]
CMD ["serve", "--config", "/etc/oma-gateway/config.yaml"]
