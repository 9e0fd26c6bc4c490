"""Parses what Helm rendered into Kubernetes objects, and reads files the way the kubelet would
project them into a container, so tests can follow a path from config.toml to its volume."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "biometric-broker"
POLICIES_DIR = REPO / "policies"
RELEASE = "rel"
NAMESPACE = "agencies"
FULLNAME = f"{RELEASE}-biometric-broker"
ISSUER = "https://idp.example.gov"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifests:
    """The parsed output of one render: Kubernetes objects plus the NOTES.txt text."""

    docs: tuple[Doc, ...]
    notes: str

    def all(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Doc:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def kinds(self) -> list[str]:
        return sorted(d["kind"] for d in self.docs)

    @property
    def deployment(self) -> Doc:
        return self.one("Deployment", FULLNAME)

    @property
    def pod(self) -> Doc:
        pod: Doc = self.deployment["spec"]["template"]["spec"]
        return pod

    def container(self, name: str) -> Doc:
        found = [c for c in self.pod["containers"] if c["name"] == name]
        assert len(found) == 1, f"expected one container {name}"
        container: Doc = found[0]
        return container

    def volume(self, name: str) -> Doc:
        found = [v for v in self.pod["volumes"] if v["name"] == name]
        assert len(found) == 1, f"expected one volume {name}"
        volume: Doc = found[0]
        return volume

    def mounts(self, container: str) -> dict[str, Doc]:
        """mountPath -> volumeMount of one container."""
        return {m["mountPath"]: m for m in self.container(container).get("volumeMounts", [])}

    def config_toml(self) -> str:
        text: str = self.one("ConfigMap", f"{FULLNAME}-config")["data"]["config.toml"]
        return text

    def read_file(self, container: str, path: str) -> str:
        """What `container` reads at `path`, resolved the way the kubelet projects ConfigMap and
        Secret volumes (subPath, items, whole-object). Fails when no mount provides the file."""
        target = PurePosixPath(path)
        for mount_path, mount in sorted(self.mounts(container).items(), key=lambda m: -len(m[0])):
            base = PurePosixPath(mount_path)
            if target != base and base not in target.parents:
                continue
            if "subPath" in mount:
                assert target == base, f"{path} is under a subPath mount {mount_path}"
                key = mount["subPath"]
            else:
                assert target.parent == base, f"{path} is not directly in {mount_path}"
                key = target.name
            return self._volume_file(self.volume(mount["name"]), key)
        raise AssertionError(f"no volume mount in {container} provides {path}")

    def _volume_file(self, volume: Doc, key: str) -> str:
        if "configMap" in volume:
            source, data = volume["configMap"], self._configmap_data(volume["configMap"]["name"])
        elif "secret" in volume:
            source = volume["secret"]
            secret = self.one("Secret", source["secretName"])
            data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        else:
            raise AssertionError(f"volume {volume['name']} is not a ConfigMap or Secret")
        if "items" in source:
            by_path = {item["path"]: item["key"] for item in source["items"]}
            assert key in by_path, f"volume {volume['name']} projects no file {key}"
            key = by_path[key]
        assert key in data, f"volume {volume['name']} has no key {key}"
        return data[key]

    def _configmap_data(self, name: str) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap", name)["data"]
        return data


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merges `overrides` into a copy of `base`, as Helm merges -f files."""
    result = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def parse_render(rendered: Mapping[str, str]) -> Manifests:
    docs: list[Doc] = []
    notes = ""
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d is not None)
    return Manifests(docs=tuple(docs), notes=notes)


Render = Callable[[Mapping[str, Any]], Manifests]
