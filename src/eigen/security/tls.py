"""Transport security of the public servers: one set of certificate files for gRPC and
HTTPS, re-read when they change, and the rule that keeps a server off the network without
TLS and authentication.

The files are ``tls_cert_file`` (PEM chain), ``tls_key_file`` and, for mutual TLS,
``tls_client_ca_file`` (client certificates are then required). :class:`CertificateFiles`
is the one reader both servers use: :meth:`CertificateFiles.changed` compares each file's
modification time and size with what it loaded last and, when one moved, reads all of
them again and checks them with :mod:`ssl` (the key must match the certificate) before
anyone serves them. gRPC asks for it on each new connection
(``grpc.dynamic_ssl_server_credentials``'s fetcher); the HTTPS server in its SNI callback,
which swaps a fresh context into the handshake. A file caught half written, or broken,
keeps the previous certificate and is logged; existing connections are never touched.

Nothing here is cryptography of its own: OpenSSL (through grpcio and :mod:`ssl`) does the
handshakes; this module only decides which files, when, and whether to serve at all.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from eigen.config.settings import Settings

log = logging.getLogger(__name__)

#: The ASGI scope key under which the HTTPS server puts a verified client certificate's
#: names (subject common name first, then the SANs), for the REST edge to authenticate.
CERTIFICATE_NAMES_SCOPE_KEY = "eigen.certificate_names"

_Stamp = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class TlsMaterial:
    """The bytes of one consistent read of the certificate files."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None  # None: client certificates are not asked for

    def __repr__(self) -> str:  # never the key
        return f"TlsMaterial(chain={len(self.certificate_chain)} bytes, mtls={self.client_ca is not None})"


@dataclass(frozen=True)
class Loaded:
    """One successful load of the files: its number (1, 2, ...), bytes and ssl context."""

    generation: int
    material: TlsMaterial
    context: ssl.SSLContext


class CertificateFiles:
    """The server's certificate files, read again whenever one of them changes.

    :meth:`refresh` is the one check both servers make before a new connection: it
    compares each file's modification time and size with the last load and, when one
    moved, loads them again. It returns the latest good load; files that do not load keep
    the previous one (the reason is logged once per change). Thread-safe: gRPC's fetcher
    and the HTTPS handshakes call it from their own threads.
    """

    def __init__(self, cert_file: Path, key_file: Path, client_ca_file: Path | None = None) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self._lock = threading.Lock()
        self._stamp = self._read_stamp()
        self._loaded = self._load(1)  # raises: a server does not start on broken files

    @classmethod
    def from_settings(cls, settings: Settings) -> CertificateFiles | None:
        """The files the settings name; None when TLS is not configured. ValueError when
        the settings are incomplete or a file does not load (saying which)."""
        cert, key, ca = settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        if cert is None and key is None:
            if ca is not None:
                raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file (TLS) too")
            return None
        if cert is None or key is None:
            missing = "tls_key_file" if key is None else "tls_cert_file"
            raise ValueError(f"TLS needs both tls_cert_file and tls_key_file: set {missing} too")
        try:
            return cls(cert, key, ca)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ValueError(f"the TLS certificate files do not load: {_reason(exc)}") from None

    @property
    def mutual(self) -> bool:
        """Whether client certificates are required (``tls_client_ca_file`` is set)."""
        return self.client_ca_file is not None

    def refresh(self) -> Loaded:
        """The latest good load, after loading the files again if one of them changed."""
        with self._lock:
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return self._loaded
            self._stamp = stamp
            try:
                self._loaded = self._load(self._loaded.generation + 1)
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.warning(
                    "TLS certificate files changed but do not load; serving the previous ones",
                    extra={"reason": _reason(exc)},
                )
            else:
                log.info(
                    "TLS certificate files reloaded",
                    extra={"cert_file": str(self.cert_file), "generation": self._loaded.generation},
                )
            return self._loaded

    def _paths(self) -> Sequence[Path]:
        return [self.cert_file, self.key_file, *([self.client_ca_file] if self.client_ca_file else [])]

    def _read_stamp(self) -> _Stamp:
        stamps = []
        for path in self._paths():
            try:
                info = path.stat()
            except OSError:
                stamps.append((-1, -1))
            else:
                stamps.append((info.st_mtime_ns, info.st_size))
        return tuple(stamps)

    def _load(self, generation: int) -> Loaded:
        material = TlsMaterial(
            certificate_chain=self.cert_file.read_bytes(),
            private_key=self.key_file.read_bytes(),
            client_ca=self.client_ca_file.read_bytes() if self.client_ca_file else None,
        )
        # A file replaced between these reads and the context's own changes the stamp taken
        # before them, so the next call loads again: the two settle on the same files.
        context = server_context(self.cert_file, self.key_file, material.client_ca)
        return Loaded(generation, material, context)


def server_context(cert_file: Path, key_file: Path, client_ca: bytes | None = None) -> ssl.SSLContext:
    """An :mod:`ssl` server context of the files (TLS 1.2 or later; client certificates
    required and verified against ``client_ca`` when given). Loading it is also the check
    that the key matches the certificate, for gRPC's sake as well."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        context.load_verify_locations(cadata=client_ca.decode("ascii", "replace"))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


# -- gRPC ---------------------------------------------------------------------------------------
def grpc_credentials(files: CertificateFiles) -> grpc.ServerCredentials:
    """Server credentials that serve the current files and pick up new ones on the next
    connection (client certificates required when the files include a client CA)."""

    def configuration(material: TlsMaterial) -> Any:
        return grpc.ssl_server_certificate_configuration(
            [(material.private_key, material.certificate_chain)], root_certificates=material.client_ca
        )

    initial = files.refresh()
    served = [initial.generation]

    def fetch() -> Any:
        try:
            loaded = files.refresh()
        except Exception:  # never into gRPC's core thread: the current certificate stays
            log.exception("TLS certificate reload failed")
            return None
        if loaded.generation == served[0]:
            return None  # no change
        served[0] = loaded.generation
        return configuration(loaded.material)

    return grpc.dynamic_ssl_server_credentials(
        configuration(initial.material), fetch, require_client_authentication=files.mutual
    )


# -- HTTPS --------------------------------------------------------------------------------------
def reloading_context(files: CertificateFiles) -> ssl.SSLContext:
    """The HTTPS server's context: each handshake first asks ``files`` whether they
    changed and, if so, continues on a fresh context of the new files (the SNI callback
    runs for every ClientHello, with or without a server name)."""

    def on_hello(connection: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        try:
            fresh = files.refresh().context
        except Exception:
            log.exception("TLS certificate reload failed")
            return
        if fresh is not context:
            fresh.sni_callback = on_hello
            connection.context = fresh

    context = files.refresh().context
    context.sni_callback = on_hello
    return context


def peer_names(certificate: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The names of a verified peer certificate (``SSLObject.getpeercert()``): the subject's
    common name first, then each subjectAltName value (DNS, URI, e-mail, IP), in order,
    without repeats. Empty for no certificate."""
    if not certificate:
        return ()
    names: list[str] = []
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and isinstance(value, str):
                names.append(value)
    for _kind, value in certificate.get("subjectAltName", ()):
        if isinstance(value, str):
            names.append(value.strip())
    return tuple(dict.fromkeys(names))


# -- the serve rule -----------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine: 127.0.0.0/8, ::1, localhost."""
    text = host.strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def exposure(settings: Settings) -> str | None:
    """What is missing for ``settings.host`` to be served as a public address (None:
    nothing, or the host is loopback): TLS, authentication, or both."""
    if is_loopback(settings.host):
        return None
    missing = []
    if settings.tls_cert_file is None:
        missing.append("TLS (tls_cert_file and tls_key_file)")
    if not settings.auth_required:
        missing.append("authentication (auth_required)")
    return " and ".join(missing) or None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__
