#!/usr/bin/env bash
# Creates .venv and installs biometric-broker with everything it needs to run and be tested.
# Idempotent: a second run only checks that everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Annoy compiles from source; without -march=native the build runs on any x86-64 CPU.
export ANNOY_COMPILER_ARGS=${ANNOY_COMPILER_ARGS:--D_CRT_SECURE_NO_WARNINGS,-DANNOYLIB_MULTITHREADED_BUILD,-O3,-ffast-math,-fno-associative-math}
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# The embedded OPA engine declares Python >= 3.14 in its metadata but works on 3.11.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --ignore-requires-python "opa-golib-python-bindings==0.4.4"
