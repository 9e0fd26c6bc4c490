"""The hardened deployment: TLS and mTLS Secrets, the optional OPA sidecar, the
PodDisruptionBudget. Each variant is rendered by real Helm, linted strictly, validated against
Kubernetes' schemas, and what the broker reads is checked with the broker's own loaders."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from broker import tls_dev
from broker.config import BrokerConfig
from broker.policy.bundle import PolicyBundle
from broker.tls import TlsFiles, load_material
from tests.helm.chart_rendering import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    POLICIES_DIR,
    RELEASE,
    Manifests,
    Render,
    merged,
)
from tests.helm.test_chart_lint import minimum_kube_version

WARNING = 2


def mtls(values: dict[str, Any], certs: tls_dev.DevCertificates) -> dict[str, Any]:
    ca = certs.ca.certificate_pem().decode()
    return merged(values, {"tls": {"clientCA": {"enabled": True, "pem": ca}}})


def opa_sidecar(values: dict[str, Any], _certs: tls_dev.DevCertificates) -> dict[str, Any]:
    return merged(values, {"opa": {"enabled": True}})


def existing_secrets(values: dict[str, Any], _certs: tls_dev.DevCertificates) -> dict[str, Any]:
    return merged(
        values,
        {
            "signingKey": {"pem": "", "existingSecret": "broker-signing"},
            "tls": {
                "cert": "",
                "key": "",
                "existingSecret": "broker-tls",
                "clientCA": {
                    "enabled": True,
                    "existingSecret": "agency-ca",
                    "existingSecretKey": "bundle.pem",
                },
            },
        },
    )


def plaintext(values: dict[str, Any], _certs: tls_dev.DevCertificates) -> dict[str, Any]:
    return merged(values, {"tls": {"enabled": False, "cert": "", "key": ""}})


VARIANTS: dict[str, Callable[[dict[str, Any], tls_dev.DevCertificates], dict[str, Any]]] = {
    "default": lambda values, _certs: values,
    "opa-sidecar": opa_sidecar,
    "mtls": mtls,
    "existing-secrets": existing_secrets,
    "plaintext-behind-a-mesh": plaintext,
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(
    request: pytest.FixtureRequest,
    minimal_values: dict[str, Any],
    dev_certificates: tls_dev.DevCertificates,
) -> dict[str, Any]:
    return VARIANTS[request.param](minimal_values, dev_certificates)


def test_every_variant_lints_strictly_clean(variant: dict[str, Any]) -> None:
    report = helm.lint(CHART_DIR, variant, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= WARNING] == []


@pytest.mark.parametrize("kube_version", [minimum_kube_version(), "1.37"])
def test_every_variant_matches_the_kubernetes_schemas(
    render: Render, variant: dict[str, Any], kube_version: str
) -> None:
    for doc in render(variant).docs:
        kubernetes_validate.validate(doc, kube_version, strict=True)


def load_config(rendered: Manifests, tmp_path: Path) -> BrokerConfig:
    path = tmp_path / "config.toml"
    path.write_text(rendered.read_file("broker", "/etc/biometric-broker/config.toml"))
    return BrokerConfig.load(path, env={})


# -- TLS ------------------------------------------------------------------------------------


def test_the_mounted_certificate_is_accepted_by_the_brokers_tls_loader(
    rendered: Manifests, tmp_path: Path
) -> None:
    config = load_config(rendered, tmp_path)
    assert config.tls_cert_file is not None and config.tls_key_file is not None
    assert config.tls_client_ca_file is None
    for path in (config.tls_cert_file, config.tls_key_file):
        (tmp_path / path.name).write_text(rendered.read_file("broker", str(path)))
    load_material(TlsFiles(tmp_path / "tls.crt", tmp_path / "tls.key"))
    secret = rendered.one("Secret", f"{FULLNAME}-tls")
    assert secret["type"] == "kubernetes.io/tls"
    assert rendered.volume("tls")["secret"]["defaultMode"] == 0o440
    assert rendered.mounts("broker")["/etc/biometric-broker/tls"]["readOnly"] is True


def test_mtls_mounts_the_client_ca_where_the_config_points(
    render: Render,
    minimal_values: dict[str, Any],
    dev_certificates: tls_dev.DevCertificates,
    tmp_path: Path,
) -> None:
    rendered = render(mtls(minimal_values, dev_certificates))
    config = load_config(rendered, tmp_path)
    assert config.tls_client_ca_file is not None
    ca = rendered.read_file("broker", str(config.tls_client_ca_file))
    assert ca == dev_certificates.ca.certificate_pem().decode()
    assert "mTLS: client certificates from the CA" in rendered.notes


def test_existing_secrets_are_used_and_none_is_created(
    render: Render,
    minimal_values: dict[str, Any],
    dev_certificates: tls_dev.DevCertificates,
) -> None:
    rendered = render(existing_secrets(minimal_values, dev_certificates))
    assert rendered.all("Secret") == []
    tls = rendered.volume("tls")["secret"]
    assert tls["secretName"] == "broker-tls"
    assert [i["key"] for i in tls["items"]] == ["tls.crt", "tls.key"]
    ca = rendered.volume("client-ca")["secret"]
    assert ca["secretName"] == "agency-ca"
    assert ca["items"] == [{"key": "bundle.pem", "path": "ca.crt"}]
    config = tomllib.loads(rendered.config_toml())
    assert config["tls_client_ca_file"] == "/etc/biometric-broker/client-ca/ca.crt"


def test_plaintext_must_be_chosen_and_is_loud(
    render: Render, minimal_values: dict[str, Any], tmp_path: Path
) -> None:
    rendered = render(plaintext(minimal_values, tls_dev.create()))
    config = load_config(rendered, tmp_path)
    assert config.insecure_plaintext is True and config.tls_cert_file is None
    assert "WARNING: tls.enabled is false" in rendered.notes
    assert "tls" not in {v["name"] for v in rendered.pod["volumes"]}


def test_the_network_policy_admits_the_grpc_port_only(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    values = merged(minimal_values, {"networkPolicy": {"allowedNamespaces": ["police-nl"]}})
    (rule,) = render(merged(values, {"opa": {"enabled": True}})).one("NetworkPolicy")["spec"][
        "ingress"
    ]
    assert rule["ports"] == [{"port": 50051, "protocol": "TCP"}]  # not health, not OPA


# -- the OPA sidecar -------------------------------------------------------------------------


@pytest.fixture
def with_opa(render: Render, minimal_values: dict[str, Any]) -> Manifests:
    return render(merged(minimal_values, {"opa": {"enabled": True}}))


def test_the_broker_uses_the_opa_backend_on_loopback(with_opa: Manifests) -> None:
    config = tomllib.loads(with_opa.config_toml())
    assert config["policy_backend"] == "opa"
    assert config["opa_url"] == "http://127.0.0.1:8181"
    opa = with_opa.container("opa")
    assert opa["image"] == "openpolicyagent/opa:1.20.0-static"
    assert opa["args"][:3] == ["run", "--server", "--addr=127.0.0.1:8181"]
    assert opa["args"][-1] == "/policies"
    assert "--disable-telemetry" in opa["args"]
    assert "Policy engine: OPA sidecar" in with_opa.notes


def test_the_opa_sidecar_is_confined_like_the_others(with_opa: Manifests) -> None:
    opa = with_opa.container("opa")
    assert opa["securityContext"] == with_opa.container("broker")["securityContext"]
    assert [m["name"] for m in opa["volumeMounts"]] == ["opa-policies"]  # no socket, no keys
    assert all(m.get("readOnly") for m in opa["volumeMounts"])
    assert opa["ports"] == [{"name": "opa-diagnostic", "containerPort": 8282, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert opa[probe]["httpGet"]["port"] == "opa-diagnostic"


def test_opa_loads_the_same_modules_and_data_as_the_embedded_engine(
    with_opa: Manifests,
) -> None:
    """OPA reads a JSON file as data under its directory's path; the chart projects
    <name>.json to <name>/data.json, so OPA sees data.<name> exactly as the broker does."""
    volume = with_opa.volume("opa-policies")["configMap"]
    assert volume["name"] == f"{FULLNAME}-policies"
    paths = {item["key"]: item["path"] for item in volume["items"]}
    bundle = PolicyBundle.load(POLICIES_DIR)
    modules = {key for key, path in paths.items() if path.endswith(".rego")}
    assert modules == set(bundle.modules)
    data = {
        path.removesuffix("/data.json") for path in paths.values() if path.endswith("/data.json")
    }
    assert data == set(bundle.data)
    assert all(paths[f"{name}.json"] == f"{name}/data.json" for name in data)
    assert not any(re.search(r"_test\.rego$|\.schema\.json$", key) for key in paths)


def test_opa_with_a_configmap_the_chart_cannot_see_is_refused(
    chart: helm.Chart, minimal_values: dict[str, Any]
) -> None:
    values = merged(
        minimal_values, {"opa": {"enabled": True}, "policies": {"existingConfigMap": "rego"}}
    )
    with pytest.raises(
        helm.HelmRenderError, match=re.escape("opa.enabled: OPA loads each data document")
    ):
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE)


# -- disruption -------------------------------------------------------------------------------


def test_the_disruption_budget_protects_the_single_writer(rendered: Manifests) -> None:
    budget = rendered.one("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 0
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budget["spec"]["selector"] == rendered.deployment["spec"]["selector"]


def test_the_disruption_budget_can_be_turned_off(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    values = merged(minimal_values, {"podDisruptionBudget": {"enabled": False}})
    assert render(values).all("PodDisruptionBudget") == []


# -- bad TLS values ---------------------------------------------------------------------------

TLS_FAILURES: list[tuple[str, dict[str, Any], type[helm.HelmError], str]] = [
    (
        "no-certificate",
        {"tls": {"cert": "", "key": ""}},
        helm.HelmRenderError,
        "tls: set tls.existingSecret (a kubernetes.io/tls Secret",
    ),
    ("certificate-without-key", {"tls": {"key": ""}}, helm.HelmRenderError, "tls: set"),
    (
        "certificate-not-pem",
        {"tls": {"cert": "MIIB..."}},
        helm.HelmRenderError,
        "tls.cert: not a PEM certificate chain",
    ),
    (
        "key-not-pem",
        {"tls": {"key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED"}},
        helm.HelmRenderError,
        "tls.key: not an unencrypted PEM private key",
    ),
    (
        "secret-and-pem",
        {"tls": {"existingSecret": "broker-tls"}},
        helm.HelmRenderError,
        "tls: set existingSecret or cert and key, not both",
    ),
    (
        "mtls-without-ca",
        {"tls": {"clientCA": {"enabled": True}}},
        helm.HelmRenderError,
        "tls.clientCA: set existingSecret or pem",
    ),
    (
        "ca-given-but-mtls-off",
        {"tls": {"clientCA": {"existingSecret": "agency-ca"}}},
        helm.HelmRenderError,
        "a CA is given but clientCA.enabled is false",
    ),
    (
        "tls-off-with-a-certificate",
        {"tls": {"enabled": False}},
        helm.HelmRenderError,
        "tls.enabled is false but TLS or mTLS values are set",
    ),
    (
        "unknown-tls-key",
        {"tls": {"minVersion": "1.3"}},
        helm.HelmValuesError,
        "at '/tls'",
    ),
    (
        "two-unavailable",
        {"podDisruptionBudget": {"maxUnavailable": 2}},
        helm.HelmValuesError,
        "at '/podDisruptionBudget/maxUnavailable'",
    ),
]
