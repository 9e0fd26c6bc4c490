"""Server-side TLS for the broker's public listener, optionally requiring client certificates.

Certificates are re-read when their files change, so a rotation by cert-manager (a Secret
volume swapping its `..data` link) takes effect on the next handshake without a restart.
A file that cannot be read or parsed at start stops the broker; a bad file during a rotation
keeps the last good certificate, since dropping TLS is never the fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from broker.errors import ConfigError

log = logging.getLogger(__name__)

# How often a handshake may look at the files' modification times; more often only costs stats.
RELOAD_CHECK_SECONDS = 5.0
# A PEM chain or key is a few KiB; a cap stops a wrong path (a log, a device) being slurped.
MAX_PEM_BYTES = 256 * 1024


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca_file is not None


@dataclass(frozen=True)
class TlsMaterial:
    """The PEM bytes of one consistent set of files, checked to parse."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    stamp: tuple[int, ...]


def load_material(files: TlsFiles) -> TlsMaterial:
    """Reads and checks the PEM files; ConfigError names the file at fault."""
    # Stamp before reading: a file replaced meanwhile then differs from the stamp, and the
    # next check reloads it.
    stamp = _stamp(_paths(files))
    chain = _read(files.cert_file, "tls_cert_file")
    key = _read(files.key_file, "tls_key_file")
    client_ca = (
        _read(files.client_ca_file, "tls_client_ca_file")
        if files.client_ca_file is not None
        else None
    )
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except ValueError as e:
        raise ConfigError(f"tls_cert_file: {files.cert_file}: not a PEM certificate") from e
    try:
        private_key = load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"tls_key_file: {files.key_file}: not an unencrypted PEM private key"
        ) from e
    if certificates[0].public_key() != private_key.public_key():
        raise ConfigError(
            "tls_key_file: the key does not belong to the certificate in tls_cert_file"
        )
    if client_ca is not None:
        try:
            x509.load_pem_x509_certificates(client_ca)
        except ValueError as e:
            raise ConfigError(
                f"tls_client_ca_file: {files.client_ca_file}: not a PEM certificate"
            ) from e
    return TlsMaterial(chain, key, client_ca, stamp)


def server_credentials(
    files: TlsFiles, *, clock: Callable[[], float] = time.monotonic
) -> grpc.ServerCredentials:
    """Credentials for `server.add_secure_port`; with a client CA, client certificates are
    required (mTLS) and verified against it."""
    reloader = CertificateReloader(files, load_material(files), clock=clock)
    return grpc.dynamic_ssl_server_credentials(
        reloader.initial_configuration(),
        reloader.fetch,
        require_client_authentication=files.mutual,
    )


class CertificateReloader:
    """gRPC's certificate_configuration_fetcher: returns a new configuration when the files
    changed and still form a valid set, None (keep the current one) otherwise."""

    def __init__(
        self, files: TlsFiles, material: TlsMaterial, *, clock: Callable[[], float]
    ) -> None:
        self._files = files
        self._material = material
        self._clock = clock
        self._checked_at = clock()
        self._lock = threading.Lock()

    @property
    def material(self) -> TlsMaterial:
        return self._material

    def initial_configuration(self) -> grpc.ServerCertificateConfiguration:
        return _configuration(self._material)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            now = self._clock()
            if now - self._checked_at < RELOAD_CHECK_SECONDS:
                return None
            self._checked_at = now
            try:
                if _stamp(_paths(self._files)) == self._material.stamp:
                    return None
                material = load_material(self._files)
            except ConfigError as e:
                log.error("TLS files changed but cannot be used; keeping the old ones: %s", e)
                return None
            self._material = material
            log.info("TLS certificate reloaded from %s", self._files.cert_file)
            return _configuration(material)


def _configuration(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.private_key, material.cert_chain)], root_certificates=material.client_ca
    )


def _paths(files: TlsFiles) -> list[tuple[Path, str]]:
    paths = [(files.cert_file, "tls_cert_file"), (files.key_file, "tls_key_file")]
    if files.client_ca_file is not None:
        paths.append((files.client_ca_file, "tls_client_ca_file"))
    return paths


def _stamp(paths: list[tuple[Path, str]]) -> tuple[int, ...]:
    stamp = []
    for path, field in paths:
        try:
            stamp.append(path.stat().st_mtime_ns)
        except OSError as e:
            raise ConfigError(f"{field}: cannot read {path}: {e.strerror}") from e
    return tuple(stamp)


def _read(path: Path, field: str) -> bytes:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_PEM_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{field}: cannot read {path}: {e.strerror}") from e
    if len(data) > MAX_PEM_BYTES:
        raise ConfigError(f"{field}: {path} is larger than {MAX_PEM_BYTES} bytes")
    return data
