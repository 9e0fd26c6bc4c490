"""Fixtures that render the real chart with Helm's Go SDK (helm_python).

Nothing here imitates Helm: every manifest a test looks at came out of Helm's template engine,
with the chart's values.schema.json applied, exactly as `helm template` would produce it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import helm_python as helm
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from broker import tls_dev
from tests.helm.chart_rendering import (
    CHART_DIR,
    FULLNAME,
    ISSUER,
    NAMESPACE,
    RELEASE,
    Manifests,
    Render,
    parse_render,
)


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    helm.disable_logging()
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def issuer_jwks() -> dict[str, Any]:
    """A real public JWKS (one Ed25519 key), as an identity provider would publish it."""
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(
        Ed25519PrivateKey.generate().public_key(), as_dict=True
    )
    jwk["kid"] = "idp-2026-01"
    return {"keys": [jwk]}


@pytest.fixture(scope="session")
def dev_certificates() -> tls_dev.DevCertificates:
    """A CA, a server and a client certificate, as `broker certs dev` makes them."""
    return tls_dev.create(server_names=(f"{FULLNAME}.{NAMESPACE}.svc", "localhost"))


@pytest.fixture
def minimal_values(
    signing_key_pem: str, issuer_jwks: dict[str, Any], dev_certificates: tls_dev.DevCertificates
) -> dict[str, Any]:
    """The least an operator must give: the signing key, one trusted issuer and the TLS
    certificate of the gRPC port."""
    return {
        "signingKey": {"pem": signing_key_pem},
        "broker": {"issuers": [{"issuer": ISSUER, "jwks": json.dumps(issuer_jwks)}]},
        "tls": {
            "cert": dev_certificates.server.certificate_pem().decode(),
            "key": dev_certificates.server.key_pem().decode(),
        },
    }


@pytest.fixture
def render(chart: helm.Chart) -> Render:
    def _render(values: Mapping[str, Any]) -> Manifests:
        return parse_render(chart.render(values=dict(values), name=RELEASE, namespace=NAMESPACE))

    return _render


@pytest.fixture
def rendered(render: Render, minimal_values: dict[str, Any]) -> Manifests:
    return render(minimal_values)
