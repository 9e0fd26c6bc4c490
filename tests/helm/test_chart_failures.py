"""Bad values stop the render with a message naming the value, before anything reaches a
cluster: values.schema.json catches shapes and types, the templates catch the rest."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from tests.helm.chart_rendering import CHART_DIR, NAMESPACE, RELEASE, merged
from tests.helm.test_chart_hardening import TLS_FAILURES

PRIVATE_JWK = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate(), as_dict=True)
ISSUER_WITHOUT_KEYS = {"issuer": "https://idp.example.gov"}

# (case id, values merged over the minimal ones, expected error type, text the message contains)
CASES: list[tuple[str, dict[str, Any], type[helm.HelmError], str]] = [
    (
        "no-signing-key",
        {"signingKey": {"pem": ""}},
        helm.HelmRenderError,
        "signingKey: set signingKey.existingSecret (a Secret holding signing-key.pem) or "
        "signingKey.pem",
    ),
    (
        "signing-key-not-pkcs8-pem",
        {"signingKey": {"pem": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"}},
        helm.HelmRenderError,
        "signingKey.pem: not a PKCS#8 PEM private key",
    ),
    (
        "signing-key-twice",
        {"signingKey": {"existingSecret": "broker-key"}},
        helm.HelmRenderError,
        "signingKey: set existingSecret or pem, not both",
    ),
    (
        "no-issuers",
        {"broker": {"issuers": []}},
        helm.HelmRenderError,
        "broker.issuers: at least one trusted token issuer is required",
    ),
    (
        "issuer-without-keys",
        {"broker": {"issuers": [ISSUER_WITHOUT_KEYS]}},
        helm.HelmRenderError,
        "broker.issuers[0]: set jwks (the issuer's public JWKS) or jwksFile",
    ),
    (
        "issuer-with-jwks-and-jwks-file",
        {"broker": {"issuers": [{**ISSUER_WITHOUT_KEYS, "jwks": "{}", "jwksFile": "/a.json"}]}},
        helm.HelmRenderError,
        "broker.issuers[0]: set jwks or jwksFile, not both",
    ),
    (
        "jwks-with-private-key",
        {
            "broker": {
                "issuers": [{**ISSUER_WITHOUT_KEYS, "jwks": json.dumps({"keys": [PRIVATE_JWK]})}]
            }
        },
        helm.HelmRenderError,
        'broker.issuers[0].jwks.keys[0]: contains the private or symmetric parameter "d"',
    ),
    (
        "jwks-with-symmetric-key",
        {
            "broker": {
                "issuers": [
                    {**ISSUER_WITHOUT_KEYS, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}
                ]
            }
        },
        helm.HelmRenderError,
        'broker.issuers[0].jwks.keys[0]: contains the private or symmetric parameter "k"',
    ),
    (
        "jwks-not-json",
        {"broker": {"issuers": [{**ISSUER_WITHOUT_KEYS, "jwks": "keys: [x]"}]}},
        helm.HelmRenderError,
        'broker.issuers[0].jwks: not a JWKS (a JSON object with a non-empty "keys" array)',
    ),
    (
        "jwks-without-keys",
        {"broker": {"issuers": [{**ISSUER_WITHOUT_KEYS, "jwks": '{"keys": []}'}]}},
        helm.HelmRenderError,
        "broker.issuers[0].jwks: not a JWKS",
    ),
    (
        "duplicate-issuer",
        {
            "broker": {
                "issuers": [
                    {**ISSUER_WITHOUT_KEYS, "jwksFile": "/etc/idp/a.json"},
                    {**ISSUER_WITHOUT_KEYS, "jwksFile": "/etc/idp/b.json"},
                ]
            }
        },
        helm.HelmRenderError,
        'broker.issuers[1].issuer: "https://idp.example.gov" is listed twice',
    ),
    (
        "both-policy-sources",
        {"policies": {"existingConfigMap": "mine", "files": {"a.rego": "package a\n"}}},
        helm.HelmRenderError,
        "policies: set existingConfigMap or files, not both",
    ),
    (
        "policies-over-a-configmap",
        {"policies": {"files": {"big.json": "0" * 1_000_001}}},
        helm.HelmRenderError,
        "do not fit in a ConfigMap (1 MiB)",
    ),
    (
        "relative-jwks-file",
        {"broker": {"issuers": [{**ISSUER_WITHOUT_KEYS, "jwksFile": "jwks.json"}]}},
        helm.HelmValuesError,
        "at '/broker/issuers/0/jwksFile'",
    ),
    (
        "empty-issuer",
        {"broker": {"issuers": [{"issuer": "", "jwksFile": "/etc/idp/a.json"}]}},
        helm.HelmValuesError,
        "at '/broker/issuers/0/issuer'",
    ),
    (
        "unsupported-algorithm",
        {
            "broker": {
                "issuers": [{**ISSUER_WITHOUT_KEYS, "jwksFile": "/a.json", "algorithms": ["HS256"]}]
            }
        },
        helm.HelmValuesError,
        "at '/broker/issuers/0/algorithms/0'",
    ),
    ("two-replicas", {"replicaCount": 2}, helm.HelmValuesError, "at '/replicaCount'"),
    (
        "misspelt-key",
        {"signingkey": {"pem": "x"}},
        helm.HelmValuesError,
        "additional properties 'signingkey' not allowed",
    ),
    (
        "policy-file-name-escapes",
        {"policies": {"files": {"../evil.rego": "package evil\n"}}},
        helm.HelmValuesError,
        "invalid propertyName '../evil.rego'",
    ),
    (
        "policy-file-not-text",
        {"policies": {"files": {"data.json": {"a": 1}}}},
        helm.HelmValuesError,
        "at '/policies/files/data.json'",
    ),
    (
        "zero-matcher-timeout",
        {"broker": {"matcherTimeoutSeconds": 0}},
        helm.HelmValuesError,
        "at '/broker/matcherTimeoutSeconds'",
    ),
    (
        "root-user",
        {"securityContext": {"runAsUser": 0}},
        helm.HelmValuesError,
        "at '/securityContext/runAsUser'",
    ),
    (
        "bad-namespace-name",
        {"networkPolicy": {"allowedNamespaces": ["Police NL"]}},
        helm.HelmValuesError,
        "at '/networkPolicy/allowedNamespaces/0'",
    ),
    (
        "audit-log-read-only",
        {"audit": {"persistence": {"accessModes": ["ReadOnlyMany"]}}},
        helm.HelmValuesError,
        "at '/audit/persistence/accessModes/0'",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [case[1:] for case in [*CASES, *TLS_FAILURES]],
    ids=[case[0] for case in [*CASES, *TLS_FAILURES]],
)
def test_bad_values_fail_the_render(
    chart: helm.Chart,
    minimal_values: dict[str, Any],
    overrides: dict[str, Any],
    error: type[helm.HelmError],
    message: str,
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        chart.render(values=merged(minimal_values, overrides), name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(
    "secret",
    [
        {"signingKey": {"pem": "SECRET-MATERIAL-0123456789"}},
        {"tls": {"key": "SECRET-MATERIAL-0123456789"}},
    ],
    ids=["signing-key", "tls-key"],
)
def test_bad_key_material_is_not_echoed(
    chart: helm.Chart, minimal_values: dict[str, Any], secret: dict[str, Any]
) -> None:
    values = merged(minimal_values, secret)
    with pytest.raises(helm.HelmRenderError) as failure:
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    assert "SECRET-MATERIAL" not in str(failure.value)


def test_a_chart_without_policies_fails_the_render(
    tmp_path: Path, minimal_values: dict[str, Any]
) -> None:
    # The same templates and values, beside an empty policies folder instead of the link.
    chart_copy = tmp_path / "biometric-broker"
    shutil.copytree(CHART_DIR, chart_copy, ignore=shutil.ignore_patterns("policies"))
    (chart_copy / "policies").mkdir()
    with (
        helm.Chart.load(chart_copy) as empty,
        pytest.raises(helm.HelmRenderError, match=re.escape("policies: no policy files")),
    ):
        empty.render(values=minimal_values, name=RELEASE, namespace=NAMESPACE)
