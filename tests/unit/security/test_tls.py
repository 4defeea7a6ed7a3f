"""eigen.security.tls: the certificate files (loaded, re-read on change, kept when broken),
the names of a peer certificate, and the serve rule. Certificates are made here."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import grpc
import pytest

from eigen.config.settings import Settings
from eigen.security import tls
from tests.certificates import Authority


@pytest.fixture(scope="module")
def ca() -> Authority:
    return Authority("Unit CA")


def _files(tmp_path: Path, ca: Authority, *, mutual: bool = False) -> tls.CertificateFiles:
    cert, key = ca.server().write(tmp_path / "server")
    client_ca = ca.write(tmp_path / "ca.pem") if mutual else None
    return tls.CertificateFiles(cert, key, client_ca)


def _touch_later(path: Path, content: bytes) -> None:
    """Rewrite ``path`` with a modification time surely different from before."""
    before = path.stat().st_mtime_ns
    path.write_bytes(content)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_unset_settings_mean_no_tls(tmp_path: Path) -> None:
    assert tls.CertificateFiles.from_settings(Settings(data_dir=tmp_path)) is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"tls_cert_file": "c.pem"}, "set tls_key_file too"),
        ({"tls_key_file": "k.pem"}, "set tls_cert_file too"),
        ({"tls_client_ca_file": "ca.pem"}, "needs tls_cert_file and tls_key_file"),
    ],
)
def test_incomplete_settings_say_what_is_missing(tmp_path: Path, values: dict[str, str], says: str) -> None:
    settings = Settings(data_dir=tmp_path, **{k: tmp_path / v for k, v in values.items()})
    with pytest.raises(ValueError, match=says):
        tls.CertificateFiles.from_settings(settings)


def test_a_missing_or_mismatched_file_does_not_start(tmp_path: Path, ca: Authority) -> None:
    cert, _ = ca.server().write(tmp_path / "server")
    missing = Settings(data_dir=tmp_path, tls_cert_file=cert, tls_key_file=tmp_path / "nope.key")
    with pytest.raises(ValueError, match=r"nope\.key"):
        tls.CertificateFiles.from_settings(missing)
    _, other_key = ca.server().write(tmp_path / "other")
    mismatched = Settings(data_dir=tmp_path, tls_cert_file=cert, tls_key_file=other_key)
    with pytest.raises(ValueError, match="do not load"):
        tls.CertificateFiles.from_settings(mismatched)


def test_loaded_files_are_served_until_they_change(tmp_path: Path, ca: Authority) -> None:
    files = _files(tmp_path, ca, mutual=True)
    first = files.refresh()
    assert files.mutual and first.generation == 1
    assert first.context.verify_mode is ssl.CERT_REQUIRED
    assert files.refresh() is first  # nothing changed: the same load, no re-read

    renewed = ca.server()
    _touch_later(files.cert_file, renewed.cert_pem)
    _touch_later(files.key_file, renewed.key_pem)
    second = files.refresh()
    assert second.generation == 2 and second.material.certificate_chain == renewed.cert_pem
    assert second.context is not first.context


def test_broken_new_files_keep_the_previous_certificate(
    tmp_path: Path, ca: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    files = _files(tmp_path, ca)
    first = files.refresh()
    _touch_later(files.key_file, b"-----BEGIN PRIVATE KEY-----\nhalf written")
    with caplog.at_level(logging.WARNING, logger="eigen.security.tls"):
        assert files.refresh() is first
    assert "do not load" in caplog.text and "half written" not in caplog.text
    renewed = ca.server()  # the writer finishes: the next connection gets the new files
    _touch_later(files.cert_file, renewed.cert_pem)
    _touch_later(files.key_file, renewed.key_pem)
    assert files.refresh().generation == 2


def test_material_repr_hides_the_key(tmp_path: Path, ca: Authority) -> None:
    material = _files(tmp_path, ca).refresh().material
    assert b"PRIVATE KEY" in material.private_key
    assert "PRIVATE" not in repr(material)


def test_server_credentials_of_the_files(tmp_path: Path, ca: Authority) -> None:
    assert isinstance(tls.grpc_credentials(_files(tmp_path, ca, mutual=True)), grpc.ServerCredentials)


def test_reloading_context_reads_the_files_at_each_handshake(tmp_path: Path, ca: Authority) -> None:
    files = _files(tmp_path, ca)
    context = tls.reloading_context(files)
    assert context.sni_callback is not None and context is files.refresh().context


def test_peer_names_common_name_then_sans() -> None:
    certificate = {
        "subject": ((("organizationName", "Eigen"),), (("commonName", "alice"),)),
        "subjectAltName": (("DNS", "alice.example"), ("URI", "spiffe://eigen/alice"), ("DNS", "alice")),
    }
    assert tls.peer_names(certificate) == ("alice", "alice.example", "spiffe://eigen/alice")
    assert tls.peer_names({}) == () and tls.peer_names(None) == ()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("eigen.example", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert tls.is_loopback(host) is loopback


def test_exposure_names_what_is_missing(tmp_path: Path) -> None:
    public = Settings(data_dir=tmp_path, host="0.0.0.0")
    assert tls.exposure(Settings(data_dir=tmp_path)) is None  # 127.0.0.1
    assert tls.exposure(public) == "TLS (tls_cert_file and tls_key_file) and authentication (auth_required)"
    with_tls = public.model_copy(update={"tls_cert_file": tmp_path / "c", "tls_key_file": tmp_path / "k"})
    assert tls.exposure(with_tls) == "authentication (auth_required)"
    assert tls.exposure(with_tls.model_copy(update={"auth_required": True})) is None
