"""The Dockerfile, read with BuildKit's own parser (Docker cannot run here): the base image, the
non-root user, the portable Annoy build and the OPA bindings, kept in step with
scripts/bootstrap.sh and with the chart that runs the image."""

from __future__ import annotations

import re
import tomllib

import dockerfile
import pytest
import setuptools  # type: ignore[import-untyped]  # setuptools ships no type stubs

from tests.helm.chart_rendering import REPO, Manifests

BOOTSTRAP = (REPO / "scripts" / "bootstrap.sh").read_text()


def stages() -> list[list[dockerfile.Command]]:
    """Instructions grouped by build stage; ARGs before the first FROM are stage 0's."""
    grouped: list[list[dockerfile.Command]] = [[]]
    for command in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if command.cmd == "FROM" and grouped[-1] and any(c.cmd == "FROM" for c in grouped[-1]):
            grouped.append([])
        grouped[-1].append(command)
    return grouped


def global_args() -> dict[str, str]:
    args: dict[str, str] = {}
    for command in dockerfile.parse_file(str(REPO / "Dockerfile")):
        if command.cmd == "FROM":
            break
        if command.cmd == "ARG":
            name, _, default = command.value[0].partition("=")
            args[name] = default
    return args


def env(stage: list[dockerfile.Command]) -> dict[str, str]:
    values: dict[str, str] = {}
    for command in stage:
        if command.cmd == "ENV":
            pairs = command.value
            values.update(zip(pairs[::2], pairs[1::2], strict=True))
    return values


def runs(stage: list[dockerfile.Command]) -> list[str]:
    return [" ".join(c.value[0].split()) for c in stage if c.cmd == "RUN"]


def test_every_stage_is_python_311_slim() -> None:
    args = global_args()
    for stage in stages():
        (base,) = (c.value[0] for c in stage if c.cmd == "FROM")
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        assert resolved == "python:3.11-slim"


def test_runs_as_uid_10001() -> None:
    final = stages()[-1]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users == ["10001:10001"]
    # The USER comes after the last instruction that needs root.
    assert [c.cmd for c in final].index("USER") > max(
        i for i, c in enumerate(final) if c.cmd in {"RUN", "COPY"}
    )
    assert any("useradd --system --uid 10001 --gid 10001" in run for run in runs(final))


def test_annoy_is_built_portably_with_the_bootstrap_flags() -> None:
    bootstrap_default = re.search(r"ANNOY_COMPILER_ARGS:-([^}]+)\}", BOOTSTRAP)
    assert bootstrap_default
    build = next(stage for stage in stages() if any("pip install ." in r for r in runs(stage)))
    flags = env(build)["ANNOY_COMPILER_ARGS"]
    assert flags == bootstrap_default.group(1)
    assert "-march=native" not in flags
    # The ENV precedes the install that compiles Annoy.
    names = [c.cmd for c in build]
    install = next(
        i for i, c in enumerate(build) if c.cmd == "RUN" and "pip install ." in c.value[0]
    )
    assert names.index("ENV") < install


def test_installs_the_project_and_the_opa_bindings_like_bootstrap() -> None:
    pinned = re.search(
        r"--ignore-requires-python\s+\"?(opa-golib-python-bindings==[\w.]+)", BOOTSTRAP
    )
    assert pinned
    install = next(r for r in runs(stages()[0]) if "pip install ." in r)
    assert f"pip install --ignore-requires-python {pinned.group(1)}" in install


def test_runtime_stage_has_no_compiler_and_copies_only_the_venv() -> None:
    final = stages()[-1]
    assert not any("g++" in run or "gcc" in run for run in runs(final))
    copies = [c for c in final if c.cmd == "COPY"]
    assert [(c.flags, c.value) for c in copies] == [
        (("--from=build",), ("/opt/biometric-broker", "/opt/biometric-broker"))
    ]


def test_default_command_is_the_one_the_chart_runs(rendered: Manifests) -> None:
    (cmd,) = (c for c in stages()[-1] if c.cmd == "CMD")
    assert cmd.json, "exec form, so signals reach the broker"
    broker = rendered.container("broker")
    assert list(cmd.value) == broker["command"] + broker["args"]


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_allows_exactly_what_pip_install_needs() -> None:
    patterns = dockerignore_patterns()
    assert patterns[0] == "*", "an allow-list: keys, logs and .venv never enter the context"
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"][
        "find"
    ]
    needed = {"pyproject.toml"}
    for where in find["where"]:
        packages = setuptools.find_namespace_packages(str(REPO / where), include=find["include"])
        assert packages, where
        needed |= {where} if where != "." else {p.split(".")[0] for p in packages}
    assert needed <= allowed
    assert allowed - needed <= {"README.md", "LICENSE"}


@pytest.mark.parametrize("excluded", ["**/__pycache__", "**/*.pyc"])
def test_dockerignore_drops_bytecode(excluded: str) -> None:
    assert excluded in dockerignore_patterns()
