# syntax=docker/dockerfile:1
# One image for both containers of the pod: `broker` and `matcher` are console scripts of the
# same package. Build from the repository root:  docker build -t biometric-broker:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: compile the wheels that need a compiler (Annoy) into a self-contained venv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# Annoy compiles from source with -march=native unless told otherwise; an image built that way
# crashes (SIGILL) on older CPUs. Same flags as scripts/bootstrap.sh, without -march=native.
ENV ANNOY_COMPILER_ARGS=-D_CRT_SECURE_NO_WARNINGS,-DANNOYLIB_MULTITHREADED_BUILD,-O3,-ffast-math,-fno-associative-math
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/biometric-broker
ENV PATH=/opt/biometric-broker/bin:$PATH
WORKDIR /src
# .dockerignore admits only what the package needs (pyproject, broker/, matcher/, protos/).
COPY . .
# The embedded OPA engine declares Python >= 3.14 in its metadata but works on 3.11, hence
# --ignore-requires-python. The two --help calls fail the build if an entry point is broken.
RUN pip install . \
    && pip install --ignore-requires-python opa-golib-python-bindings==0.4.4 \
    && broker --help >/dev/null \
    && matcher --help >/dev/null

# ---- runtime: no compiler, no sources, a non-root user ----
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="biometric-broker" \
      org.opencontainers.image.description="Policy-as-code access broker and biometric matcher" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 broker \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin broker \
    && install -d -o 10001 -g 10001 -m 0750 \
       /var/lib/biometric-broker/audit /var/lib/biometric-broker/gallery /run/matcher \
    && install -d -m 0755 /etc/biometric-broker
COPY --from=build /opt/biometric-broker /opt/biometric-broker
ENV PATH=/opt/biometric-broker/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# gRPC (TLS when configured), and the plaintext health-only port for kubelet probes.
EXPOSE 50051 8086
CMD ["broker", "serve", "--config", "/etc/biometric-broker/config.toml"]
