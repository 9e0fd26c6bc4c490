"""Where the broker's policies come from: the repository's policies/ folder, embedded through the
chart's `policies` symlink (which Helm follows, and `helm package` turns into real files), or an
operator's ConfigMap, or files given in values."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import helm_python as helm

from broker.policy.bundle import PolicyBundle
from tests.helm.chart_rendering import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    POLICIES_DIR,
    RELEASE,
    Manifests,
    Render,
    merged,
    parse_render,
)

POLICIES_CONFIGMAP = f"{FULLNAME}-policies"


def repository_policies() -> dict[str, str]:
    files = [*POLICIES_DIR.glob("*.rego"), *POLICIES_DIR.glob("*.json")]
    return {path.name: path.read_text() for path in files}


def test_chart_links_to_the_policies_instead_of_copying_them() -> None:
    link = CHART_DIR / "policies"
    assert link.is_symlink()
    assert os.readlink(link) == "../../policies"
    assert link.resolve() == POLICIES_DIR.resolve()


def test_embedded_policies_equal_the_repository_folder(rendered: Manifests) -> None:
    expected = repository_policies()
    assert any(name.endswith(".rego") for name in expected), "policies/ has no Rego modules"
    assert any(name.endswith(".json") for name in expected), "policies/ has no data documents"
    assert rendered.one("ConfigMap", POLICIES_CONFIGMAP)["data"] == expected


def test_the_broker_reads_every_policy_file(rendered: Manifests) -> None:
    for name, content in repository_policies().items():
        assert rendered.read_file("broker", f"/etc/biometric-broker/policies/{name}") == content


def mount_like_kubelet(data: dict[str, str], directory: Path) -> Path:
    """Lays out ConfigMap data the way the kubelet's atomic writer does: the files in a
    timestamped directory, `..data` linking to it, and one top-level link per key."""
    version = directory / "..2026_01_01_00_00_00.000000001"
    version.mkdir(parents=True)
    for name, content in data.items():
        (version / name).write_text(content)
        (directory / name).symlink_to(Path("..data") / name)
    (directory / "..data").symlink_to(version.name)
    return directory


def test_the_broker_loads_the_mounted_policies_as_the_same_revision(
    rendered: Manifests, tmp_path: Path
) -> None:
    data = rendered.one("ConfigMap", POLICIES_CONFIGMAP)["data"]
    mounted = PolicyBundle.load(mount_like_kubelet(data, tmp_path / "policies"))
    assert mounted.revision == PolicyBundle.load(POLICIES_DIR).revision


def test_existing_configmap(render: Render, minimal_values: dict[str, Any]) -> None:
    rendered = render(merged(minimal_values, {"policies": {"existingConfigMap": "compliance-v7"}}))
    assert all(c["metadata"]["name"] != POLICIES_CONFIGMAP for c in rendered.all("ConfigMap"))
    assert rendered.volume("policies")["configMap"] == {"name": "compliance-v7"}
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/policies" not in annotations
    assert "ConfigMap compliance-v7 (yours: restart the Deployment" in rendered.notes


def test_files_from_values_replace_the_embedded_library(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    files = {
        "broker.rego": "package broker\n\ndefault decision := {}\n",
        "purposes.json": '{"purposes": {}}\n',
    }
    rendered = render(merged(minimal_values, {"policies": {"files": files}}))
    assert rendered.one("ConfigMap", POLICIES_CONFIGMAP)["data"] == files
    assert f"ConfigMap {POLICIES_CONFIGMAP} (2 files)" in rendered.notes


def test_policy_change_rolls_the_pod(render: Render, minimal_values: dict[str, Any]) -> None:
    def checksum(content: str) -> str:
        values = merged(minimal_values, {"policies": {"files": {"a.rego": content}}})
        annotations = render(values).deployment["spec"]["template"]["metadata"]["annotations"]
        value: str = annotations["checksum/policies"]
        return value

    assert checksum("package a\n") != checksum("package a\n\nx := 1\n")


def test_packaged_chart_carries_the_files_not_the_link(
    tmp_path: Path, minimal_values: dict[str, Any]
) -> None:
    archive = helm.package(CHART_DIR, destination=tmp_path)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    policy_members = {
        name.removeprefix("biometric-broker/policies/"): member
        for name, member in members.items()
        if name.startswith("biometric-broker/policies/")
    }
    assert all(m.isfile() for m in policy_members.values())
    assert set(policy_members) >= set(repository_policies())

    with helm.Chart.load(archive) as packaged:
        rendered = parse_render(
            packaged.render(values=minimal_values, name=RELEASE, namespace=NAMESPACE)
        )
    assert rendered.one("ConfigMap", POLICIES_CONFIGMAP)["data"] == repository_policies()
