"""A throwaway certificate authority for trying TLS and mTLS locally (`broker certs dev`).

Production certificates come from the agencies' PKI or cert-manager; these only stand in.
ECDSA P-256 keys, a CA that may sign only end-entity certificates (pathlen 0), a server
certificate for the given DNS names and IP addresses, and a client certificate.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.audit.durable import write_atomic
from broker.errors import ConfigError

DEFAULT_SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
# Short on purpose: these are for trying things out, and a forgotten dev CA should expire.
DEFAULT_DAYS = 30
MAX_DAYS = 397  # the CA/Browser Forum's ceiling for a leaf; nothing here needs longer
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")

FILE_NAMES = (
    "ca.pem",
    "ca-key.pem",
    "server.pem",
    "server-key.pem",
    "client.pem",
    "client-key.pem",
)


@dataclass(frozen=True)
class IssuedPair:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class DevCertificates:
    ca: IssuedPair
    server: IssuedPair
    client: IssuedPair

    def write(self, directory: Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Writes the six PEM files (keys mode 0600). Without overwrite, refuses to replace any
        existing file before writing a single one."""
        contents = {
            "ca.pem": (self.ca.certificate_pem(), 0o644),
            "ca-key.pem": (self.ca.key_pem(), 0o600),
            "server.pem": (self.server.certificate_pem(), 0o644),
            "server-key.pem": (self.server.key_pem(), 0o600),
            "client.pem": (self.client.certificate_pem(), 0o644),
            "client-key.pem": (self.client.key_pem(), 0o600),
        }
        directory.mkdir(parents=True, exist_ok=True)
        taken = sorted(name for name in contents if (directory / name).exists())
        if taken and not overwrite:
            raise ConfigError(f"{directory}: {', '.join(taken)} already exist (use --force)")
        written = {}
        for name, (data, mode) in contents.items():
            write_atomic(directory / name, data, mode=mode, overwrite=overwrite)
            written[name] = directory / name
        return written


def create(
    *,
    server_names: tuple[str, ...] = DEFAULT_SERVER_NAMES,
    client_name: str = "agency-client",
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> DevCertificates:
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"days: must be within 1..{MAX_DAYS}")
    if not server_names:
        raise ConfigError("server names: at least one DNS name or IP address")
    if not CLIENT_NAME.fullmatch(client_name):
        raise ConfigError("client name: 1-63 letters, digits, '.' or '-' (it is also a DNS SAN)")
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)  # tolerate skew
    end = start + timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("biometric-broker dev CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = IssuedPair(ca_cert, ca_key)
    server = _leaf(
        ca,
        server_names[0],
        alt_names=server_names,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        start=start,
        end=end,
    )
    client = _leaf(
        ca,
        client_name,
        alt_names=(client_name,),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        start=start,
        end=end,
    )
    return DevCertificates(ca, server, client)


def _leaf(
    ca: IssuedPair,
    common_name: str,
    *,
    alt_names: tuple[str, ...],
    usage: x509.ObjectIdentifier,
    start: datetime,
    end: datetime,
) -> IssuedPair:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common_name), ca.certificate.subject, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
    )
    if alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in alt_names]), critical=False
        )
    return IssuedPair(builder.sign(ca.key, hashes.SHA256()), key)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "biometric-broker (development only)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
