"""Mutual TLS for a TCP listener: load and check the PEM files, build gRPC credentials.

A loopback port can be dialled by every local user, so on TCP the matcher authenticates the
broker by its client certificate: `require_client_auth` makes the TLS handshake fail for a
client without a certificate signed by `tls_client_ca`, before any call is read. Use a CA
that signs the broker's certificate only. Every problem is a ConfigError naming the field.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from matcher.errors import ConfigError

# PEM files are small; anything larger is not a certificate or key file.
MAX_PEM_BYTES = 1 << 20


def server_credentials(cert: Path, key: Path, client_ca: Path) -> grpc.ServerCredentials:
    """Credentials that present `cert` and accept only clients signed by `client_ca`."""
    cert_pem = _certificates("tls_cert", cert)
    key_pem = _private_key("tls_key", key, cert_pem)
    ca_pem = _certificates("tls_client_ca", client_ca)
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=True
    )


def channel_credentials(ca: Path, cert: Path, key: Path) -> grpc.ChannelCredentials:
    """Client credentials for calling a mutual-TLS matcher (the health command uses them)."""
    ca_pem = _certificates("tls_ca", ca)
    cert_pem = _certificates("tls_cert", cert)
    key_pem = _private_key("tls_key", key, cert_pem)
    return grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem
    )


def _read(field: str, path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_PEM_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{field}: cannot read {path}: {error.strerror}") from error
    if len(data) > MAX_PEM_BYTES:
        raise ConfigError(f"{field}: {path} is larger than {MAX_PEM_BYTES} bytes")
    return data


def _certificates(field: str, path: Path) -> bytes:
    data = _read(field, path)
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ConfigError(f"{field}: {path} holds no PEM certificate") from error
    return data


def _private_key(field: str, path: Path, cert_pem: bytes) -> bytes:
    data = _read(field, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{field}: {path} holds no unencrypted PEM private key") from error
    leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
        encoding, public
    ):
        raise ConfigError(f"{field}: {path} is not the key of the certificate")
    return data
