"""The chart as tools other than ours see it: `helm lint --strict`, Kubernetes' own OpenAPI
schemas (kubernetes-validate, strict: unknown fields are errors), and Helm's values-schema check."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from broker.config import SUPPORTED_ALGORITHMS
from tests.helm.chart_rendering import CHART_DIR, Manifests, Render, merged

WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}


def minimum_kube_version() -> str:
    """The lowest Kubernetes minor the chart declares support for, e.g. "1.27"."""
    chart_yaml = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    found = re.fullmatch(r">=\s*(\d+\.\d+)\.\d+(-0)?", chart_yaml["kubeVersion"])
    assert found, chart_yaml["kubeVersion"]
    return found.group(1)


def everything_overridden(values: dict[str, Any]) -> dict[str, Any]:
    return merged(
        values,
        {
            "signingKey": {"pem": "", "existingSecret": "broker-key"},
            "audit": {"persistence": {"existingClaim": "audit", "keepOnUninstall": False}},
            "gallery": {"persistence": {"storageClass": "-", "accessModes": ["ReadWriteOncePod"]}},
            "policies": {"existingConfigMap": "compliance"},
            "networkPolicy": {"allowedNamespaces": ["police-nl"]},
            "image": {"digest": "sha256:" + "0" * 64},
            "imagePullSecrets": [{"name": "regcred"}],
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "serviceAccount": {"annotations": {"example.org/role": "broker"}},
            "broker": {
                "extraVolumes": [{"name": "idp", "configMap": {"name": "idp-jwks"}}],
                "extraVolumeMounts": [{"name": "idp", "mountPath": "/etc/idp", "readOnly": True}],
            },
        },
    )


@pytest.fixture(params=["minimal", "everything-overridden"])
def variant(request: pytest.FixtureRequest, minimal_values: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = (
        minimal_values if request.param == "minimal" else everything_overridden(minimal_values)
    )
    return values


def test_lint_strict_is_clean(variant: dict[str, Any]) -> None:
    report = helm.lint(CHART_DIR, variant, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= WARNING] == []


def test_lint_strict_reports_bad_values(minimal_values: dict[str, Any]) -> None:
    report = helm.lint(CHART_DIR, merged(minimal_values, {"replicaCount": 2}), strict=True)
    assert any("/replicaCount" in error for error in report["errors"])


@pytest.mark.parametrize("kube_version", [minimum_kube_version(), "1.37"])
def test_manifests_match_the_kubernetes_schemas(
    render: Render, variant: dict[str, Any], kube_version: str
) -> None:
    rendered = render(variant)
    assert rendered.docs
    for doc in rendered.docs:
        kubernetes_validate.validate(doc, kube_version, strict=True)


def test_every_object_carries_the_standard_labels(rendered: Manifests) -> None:
    for doc in rendered.docs:
        assert set(doc["metadata"]["labels"]) >= STANDARD_LABELS, doc["metadata"]["name"]
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert set(pod_labels) >= STANDARD_LABELS
    assert rendered.deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "biometric-broker",
        "app.kubernetes.io/instance": "rel",
    }


def test_default_values_satisfy_the_schema(chart: helm.Chart) -> None:
    schema = chart.schema
    assert schema is not None
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    chart.validate_schema(chart.values)  # Helm's own validator, as install runs it


def test_schema_algorithms_are_the_brokers(chart: helm.Chart) -> None:
    schema = chart.schema
    assert schema is not None
    issuer = schema["properties"]["broker"]["properties"]["issuers"]["items"]
    assert set(issuer["properties"]["algorithms"]["items"]["enum"]) == set(SUPPORTED_ALGORITHMS)


def test_every_default_value_is_described_by_the_schema(chart: helm.Chart) -> None:
    schema = chart.schema
    assert schema is not None

    def walk(values: dict[str, Any], node: dict[str, Any], path: str) -> None:
        for key, value in values.items():
            assert key in node.get("properties", {}), f"{path}{key} is not in values.schema.json"
            child = node["properties"][key]
            if isinstance(value, dict) and "properties" in child:
                walk(value, child, f"{path}{key}.")

    walk(chart.values, schema, "")
