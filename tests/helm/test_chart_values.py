"""Overridden values: resources the operator brings (Secret, claims, JWKS), storage classes,
several issuers, the network policy, and the image reference."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import helm_python as helm
import pytest

from tests.helm.chart_rendering import FULLNAME, Manifests, Render, merged, parse_render


def test_existing_signing_secret(render: Render, minimal_values: dict[str, Any]) -> None:
    values = merged(
        minimal_values,
        {"signingKey": {"pem": "", "existingSecret": "broker-key", "existingSecretKey": "ed25519"}},
    )
    rendered = render(values)
    # The chart creates no signing-key Secret; the only one left is the TLS certificate's.
    assert [d["metadata"]["name"] for d in rendered.all("Secret")] == [f"{FULLNAME}-tls"]
    secret = rendered.volume("signing-key")["secret"]
    assert secret["secretName"] == "broker-key"
    # The operator's key name is projected to the file name the config points at.
    assert secret["items"] == [{"key": "ed25519", "path": "signing-key.pem"}]
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/signing-key" not in annotations


def test_existing_claims(render: Render, minimal_values: dict[str, Any]) -> None:
    values = merged(
        minimal_values,
        {
            "audit": {"persistence": {"existingClaim": "audit-evidence"}},
            "gallery": {"persistence": {"existingClaim": "gallery-ssd"}},
        },
    )
    rendered = render(values)
    assert rendered.all("PersistentVolumeClaim") == []
    assert rendered.volume("audit")["persistentVolumeClaim"] == {"claimName": "audit-evidence"}
    assert rendered.volume("gallery")["persistentVolumeClaim"] == {"claimName": "gallery-ssd"}
    assert "PersistentVolumeClaim audit-evidence" in rendered.notes


@pytest.mark.parametrize(
    ("storage_class", "expected"),
    [("fast-ssd", "fast-ssd"), ("-", "")],
    ids=["named-class", "dash-disables-provisioning"],
)
def test_storage_class(
    render: Render, minimal_values: dict[str, Any], storage_class: str, expected: str
) -> None:
    values = merged(minimal_values, {"audit": {"persistence": {"storageClass": storage_class}}})
    rendered = render(values)
    audit = rendered.one("PersistentVolumeClaim", f"{FULLNAME}-audit")
    gallery = rendered.one("PersistentVolumeClaim", f"{FULLNAME}-gallery")
    assert audit["spec"]["storageClassName"] == expected
    assert "storageClassName" not in gallery["spec"]


def test_claim_size_access_mode_and_deletable(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    values = merged(
        minimal_values,
        {
            "gallery": {
                "persistence": {
                    "size": "500Gi",
                    "accessModes": ["ReadWriteOncePod"],
                    "keepOnUninstall": False,
                }
            }
        },
    )
    gallery = render(values).one("PersistentVolumeClaim", f"{FULLNAME}-gallery")
    assert gallery["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert gallery["spec"]["accessModes"] == ["ReadWriteOncePod"]
    assert "annotations" not in gallery["metadata"]


def test_custom_issuers(
    render: Render, minimal_values: dict[str, Any], issuer_jwks: dict[str, Any]
) -> None:
    issuers = [
        # A JWKS given as a YAML map rather than JSON text.
        {"issuer": "https://idp.police.example", "jwks": issuer_jwks, "algorithms": ["ES256"]},
        # A JWKS the operator mounts from a ConfigMap of their own.
        {"issuer": "https://sso.border.example", "jwksFile": "/etc/idp/border/jwks.json"},
    ]
    values = merged(
        minimal_values,
        {
            "broker": {
                "audience": "eu-biometrics",
                "issuers": issuers,
                "extraVolumes": [{"name": "border-idp", "configMap": {"name": "border-jwks"}}],
                "extraVolumeMounts": [
                    {"name": "border-idp", "mountPath": "/etc/idp/border", "readOnly": True}
                ],
            }
        },
    )
    rendered = render(values)
    config = tomllib.loads(rendered.config_toml())
    assert config["audience"] == "eu-biometrics"
    assert config["issuers"] == [
        {
            "issuer": "https://idp.police.example",
            "jwks_file": "/etc/biometric-broker/issuers/0.jwks.json",
            "algorithms": ["ES256"],
        },
        {
            "issuer": "https://sso.border.example",
            "jwks_file": "/etc/idp/border/jwks.json",
            "algorithms": ["EdDSA", "ES256"],
        },
    ]
    issuers_map = rendered.one("ConfigMap", f"{FULLNAME}-issuers")["data"]
    assert list(issuers_map) == ["0.jwks.json"]
    assert json.loads(issuers_map["0.jwks.json"]) == issuer_jwks
    assert rendered.mounts("broker")["/etc/idp/border"]["name"] == "border-idp"
    assert rendered.volume("border-idp") == {
        "name": "border-idp",
        "configMap": {"name": "border-jwks"},
    }


def test_only_mounted_issuer_files_means_no_issuer_configmap(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    values = merged(
        minimal_values,
        {
            "broker": {
                "issuers": [{"issuer": "https://idp.example", "jwksFile": "/etc/idp/jwks.json"}]
            }
        },
    )
    rendered = render(values)
    assert all(not c["metadata"]["name"].endswith("-issuers") for c in rendered.all("ConfigMap"))
    assert "/etc/biometric-broker/issuers" not in rendered.mounts("broker")
    assert all(v["name"] != "issuers" for v in rendered.pod["volumes"])


def test_network_policy_disabled(render: Render, minimal_values: dict[str, Any]) -> None:
    rendered = render(merged(minimal_values, {"networkPolicy": {"enabled": False}}))
    assert rendered.all("NetworkPolicy") == []
    assert "WARNING: networkPolicy.enabled is false" in rendered.notes


def test_network_policy_admits_listed_namespaces_on_grpc_only(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    values = merged(
        minimal_values, {"networkPolicy": {"allowedNamespaces": ["police-nl", "border-de"]}}
    )
    rendered = render(values)
    spec = rendered.one("NetworkPolicy", FULLNAME)["spec"]
    assert spec["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/metadata.name",
                                "operator": "In",
                                "values": ["police-nl", "border-de"],
                            }
                        ]
                    }
                }
            ],
            "ports": [{"port": 50051, "protocol": "TCP"}],
        }
    ]
    assert "only pods in police-nl, border-de may call port 50051" in rendered.notes


def test_image_by_digest(render: Render, minimal_values: dict[str, Any]) -> None:
    digest = "sha256:" + "ab" * 32
    values = merged(
        minimal_values,
        {"image": {"repository": "registry.example/bb", "tag": "9.9", "digest": digest}},
    )
    rendered = render(values)
    for container in rendered.pod["containers"]:
        assert container["image"] == f"registry.example/bb@{digest}"


def test_image_tag_and_pull_secrets(render: Render, minimal_values: dict[str, Any]) -> None:
    values = merged(
        minimal_values,
        {
            "image": {"tag": "1.2.3", "pullPolicy": "Always"},
            "imagePullSecrets": [{"name": "regcred"}],
        },
    )
    rendered = render(values)
    assert {c["image"] for c in rendered.pod["containers"]} == {"biometric-broker:1.2.3"}
    assert {c["imagePullPolicy"] for c in rendered.pod["containers"]} == {"Always"}
    assert rendered.pod["imagePullSecrets"] == [{"name": "regcred"}]


def test_scaled_to_zero(render: Render, minimal_values: dict[str, Any]) -> None:
    assert render(merged(minimal_values, {"replicaCount": 0})).deployment["spec"]["replicas"] == 0


def test_scheduling_and_pod_metadata(render: Render, minimal_values: dict[str, Any]) -> None:
    values = merged(
        minimal_values,
        {
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "biometrics", "operator": "Exists", "effect": "NoSchedule"}],
            "podAnnotations": {"example.org/team": "identity"},
            "podLabels": {"tier": "restricted"},
            "priorityClassName": "critical",
        },
    )
    rendered: Manifests = render(values)
    template = rendered.deployment["spec"]["template"]
    assert rendered.pod["nodeSelector"] == {"disk": "ssd"}
    assert rendered.pod["tolerations"][0]["key"] == "biometrics"
    assert rendered.pod["priorityClassName"] == "critical"
    assert template["metadata"]["annotations"]["example.org/team"] == "identity"
    assert template["metadata"]["labels"]["tier"] == "restricted"
    # Extra pod labels never change the selector (which is immutable on a Deployment).
    assert "tier" not in rendered.deployment["spec"]["selector"]["matchLabels"]


def test_service_account_not_created(render: Render, minimal_values: dict[str, Any]) -> None:
    values = merged(minimal_values, {"serviceAccount": {"create": False, "name": "shared-sa"}})
    rendered = render(values)
    assert rendered.all("ServiceAccount") == []
    assert rendered.pod["serviceAccountName"] == "shared-sa"


def test_long_release_names_stay_valid(chart: helm.Chart, minimal_values: dict[str, Any]) -> None:
    name = "a" * 53  # Helm's longest release name
    rendered = parse_render(chart.render(values=minimal_values, name=name, namespace="ns"))
    for doc in rendered.docs:
        assert len(doc["metadata"]["name"]) <= 63, doc["metadata"]["name"]
    names = [d["metadata"]["name"] for d in rendered.all("ConfigMap")]
    assert len(set(names)) == len(names) == 3
