"""The internal edges: the service token, the service role, and the api's asserted principal."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from eigen.config.settings import Settings
from eigen.drivers.registry import DriverRegistry
from eigen.errors import PermissionDenied, Unauthenticated
from eigen.models.principal import Principal
from eigen.observability import context as call_context
from eigen.observability.context import CallContext
from eigen.proto.internal.v1 import driver_pb2, driver_pb2_grpc
from eigen.proto.status import error_from_rpc
from eigen.security import internal
from eigen.security.internal import (
    PRINCIPAL,
    SERVICE_ROLE,
    SERVICE_TOKEN,
    ServiceEdge,
    admit,
    decode_principal,
    encode_principal,
)
from eigen.server.build import Stack
from eigen.server.grpc_server import start_grpc
from eigen.server.remote import RemoteDrivers

TOKEN = "s3cr3t-internal-token-for-tests"
ALICE = Principal("acme", "alice", frozenset({"submitter", "viewer"}), "api_key")
CALL = CallContext(request_id="r1", caller="someone")


@pytest.fixture(autouse=True)
def no_edge_installed() -> Iterator[None]:
    internal.install(None)
    yield
    internal.install(None)


def pairs(
    role: str = "api", token: str | None = TOKEN, principal: str | None = None
) -> list[tuple[str, str]]:
    found = [(SERVICE_ROLE, role)]
    if token is not None:
        found.append((SERVICE_TOKEN, token))
    if principal is not None:
        found.append((PRINCIPAL, principal))
    return found


def test_a_principal_round_trips_as_compact_json_of_its_built_in_roles() -> None:
    asserted = Principal("acme", "josé", frozenset({"viewer", "admin", "group:physics"}), "jwt")
    text = encode_principal(asserted)
    assert text.isascii() and " " not in text  # a metadata value as it is
    assert json.loads(text) == {
        "tenant": "acme",
        "subject": "josé",
        "roles": ["admin", "viewer"],
        "method": "jwt",
    }
    decoded = decode_principal(text)
    assert (decoded.tenant, decoded.subject, decoded.roles) == (
        "acme",
        "josé",
        frozenset({"admin", "viewer"}),
    )
    assert decoded.method == "service"  # the kernel knows it from the api's assertion


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"tenant": "acme", "subject": "a", "roles": []}', "method must be a string"),
        ('{"subject": "a", "roles": [], "method": "jwt"}', "tenant must be a string"),
        ('{"tenant": "", "subject": "a", "roles": [], "method": "jwt"}', "tenant is empty"),
        ('{"tenant": "acme", "subject": "a\\u0007", "roles": [], "method": "jwt"}', "control characters"),
        ('{"tenant": "' + "t" * 65 + '", "subject": "a", "roles": [], "method": "jwt"}', "at most 64"),
        ('{"tenant": "acme", "subject": "a", "roles": "admin", "method": "jwt"}', "roles must be a list"),
        ('{"tenant": "acme", "subject": "a", "roles": ["Admin!"], "method": "jwt"}', "role names"),
        (
            '{"tenant": "acme", "subject": "a", "roles": ' + json.dumps(["viewer"] * 5) + ', "method": "x"}',
            "at most 4",
        ),
        (
            json.dumps({"tenant": "acme", "subject": "a", "roles": [], "method": "jwt", "pad": "x" * 2000}),
            "longer",
        ),
    ],
)
def test_a_bad_assertion_is_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        decode_principal(text)
    assert why in caught.value.message
    assert caught.value.code == "EIGEN_UNAUTHENTICATED"
    assert len(caught.value.message) < 200  # never the whole header back


def test_without_a_token_nothing_is_checked_and_an_assertion_is_ignored() -> None:
    assert ServiceEdge.from_settings(Settings()) is None
    asserted = pairs(principal=encode_principal(ALICE), token=None)
    assert admit("KernelService", "GetJob", asserted, CALL) is CALL  # nobody can assert


def test_public_services_ignore_the_internal_headers() -> None:
    edge = ServiceEdge(TOKEN, "api")
    assert admit("JobService", "GetJob", pairs(token="wrong", principal="{}"), CALL, edge=edge) is CALL
    assert admit("BackendService", "ListBackends", [], CALL, edge=edge) is CALL


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], TOKEN + "x"])
def test_an_internal_call_without_the_token_is_unauthenticated_and_logged_without_it(
    token: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    edge = ServiceEdge(TOKEN, "compiler")
    for service, role in (("KernelService", "api"), ("CompilationService", "kernel")):
        with (
            caplog.at_level(logging.WARNING, "eigen.security.internal"),
            pytest.raises(Unauthenticated) as caught,
        ):
            admit(service, "Compile", pairs(role=role, token=token), CALL, peer="ipv4:127.0.0.1:5", edge=edge)
        assert caught.value.metadata["reason"] in ("no service token", "wrong service token")
        assert SERVICE_TOKEN in caught.value.message
    records = [r for r in caplog.records if r.getMessage() == "internal call refused"]
    assert len(records) == 2
    assert {r.__dict__["rpc_service"] for r in records} == {"KernelService", "CompilationService"}
    assert records[0].__dict__["peer"] == "ipv4:127.0.0.1:5"
    assert all(TOKEN not in str(vars(r)) for r in caplog.records)


def test_the_kernel_takes_the_api_roles_assertion_as_the_authenticated_principal() -> None:
    edge = ServiceEdge(TOKEN, "kernel")
    admitted = admit("KernelService", "GetJob", pairs(principal=encode_principal(ALICE)), CALL, edge=edge)
    assert admitted.authenticated == Principal("acme", "alice", ALICE.roles, "service")
    assert admitted.principal.tenant == "acme" and not admitted.principal.admin
    assert (admitted.request_id, admitted.caller) == (CALL.request_id, CALL.caller)
    # the api's own calls (no public call behind them) assert nothing: as before, unauthenticated
    assert admit("KernelService", "ListBackends", pairs(), CALL, edge=edge).authenticated is None


@pytest.mark.parametrize("role", ["kernel", "compiler", "driver-manager", "", "API"])
def test_only_the_api_role_calls_the_kernel_so_no_other_role_asserts(role: str) -> None:
    edge = ServiceEdge(TOKEN, "kernel")
    for principal in (encode_principal(ALICE), None):
        with pytest.raises(PermissionDenied) as caught:
            admit("KernelService", "GetJob", pairs(role=role, principal=principal), CALL, edge=edge)
        assert "api role" in caught.value.message


def test_the_compiler_and_driver_manager_take_calls_from_the_kernel_and_no_assertion() -> None:
    edge = ServiceEdge(TOKEN, "driver-manager")
    for service in ("CompilationService", "DriverManagerService"):
        admitted = admit(
            service, "Execute", pairs(role="kernel", principal=encode_principal(ALICE)), CALL, edge=edge
        )
        assert admitted.authenticated is None  # an assertion means nothing here
        with pytest.raises(PermissionDenied):
            admit(service, "Execute", pairs(role="api"), CALL, edge=edge)


def test_a_bad_assertion_from_the_api_is_refused_not_ignored() -> None:
    edge = ServiceEdge(TOKEN, "kernel")
    with pytest.raises(Unauthenticated):
        admit("KernelService", "GetJob", pairs(principal='{"tenant": "acme"'), CALL, edge=edge)


def test_outgoing_metadata_asserts_the_principal_only_from_the_api() -> None:
    authenticated = CallContext(request_id="r2", caller="spoofed", authenticated=ALICE)
    api = dict(ServiceEdge(TOKEN, "api").outgoing(authenticated))
    assert api[SERVICE_TOKEN] == TOKEN and api[SERVICE_ROLE] == "api"
    assert decode_principal(api[PRINCIPAL]).subject == "alice"
    assert PRINCIPAL not in dict(ServiceEdge(TOKEN, "api").outgoing(CALL))  # auth off: nothing to assert
    assert PRINCIPAL not in dict(ServiceEdge(TOKEN, "kernel").outgoing(authenticated))  # the kernel never


def test_an_installed_edge_rides_on_every_outgoing_internal_call() -> None:
    authenticated = CallContext(request_id="r2", caller="spoofed", authenticated=ALICE)
    assert dict(authenticated.metadata()) == {"x-request-id": "r2", "x-eigen-caller": "alice"}
    internal.install(ServiceEdge.from_settings(Settings(internal_token=TOKEN, role="api")))
    sent = dict(authenticated.metadata())
    assert sent[SERVICE_TOKEN] == TOKEN and sent["x-eigen-caller"] == "alice" and PRINCIPAL in sent
    internal.install(None)
    assert SERVICE_TOKEN not in dict(authenticated.metadata())


def test_the_edge_never_shows_its_token() -> None:
    edge = ServiceEdge(TOKEN, "api")
    assert TOKEN not in repr(edge) and TOKEN not in str(edge)
    with pytest.raises(ValueError):
        ServiceEdge("", "api")


@pytest.fixture
def driver_manager(tmp_path: Path) -> Iterator[str]:
    """A real driver-manager gRPC server on a free loopback port (the edge is this process's:
    the test installs it, as the kernel calling it would)."""
    settings = Settings(role="driver-manager", host="127.0.0.1", port=0, data_dir=tmp_path)
    stack = Stack(roles=frozenset({"driver-manager"}), drivers=DriverRegistry())
    server, port = start_grpc(stack, settings)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0).wait()


def test_a_real_driver_manager_serves_the_kernel_with_the_token_and_nobody_without(
    driver_manager: str,
) -> None:
    internal.install(ServiceEdge(TOKEN, "kernel"))  # the token of both ends; calls as the kernel
    remote = RemoteDrivers(driver_manager)
    try:
        assert any(d.name == "sim:statevector" for d in remote.list_devices())
    finally:
        remote.close()
    with grpc.insecure_channel(driver_manager) as channel:
        stub = driver_pb2_grpc.DriverManagerServiceStub(channel)
        for metadata, expected in (
            ((), "EIGEN_UNAUTHENTICATED"),
            (((SERVICE_TOKEN, "guess"), (SERVICE_ROLE, "kernel")), "EIGEN_UNAUTHENTICATED"),
            (((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api")), "EIGEN_PERMISSION_DENIED"),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListDevices(driver_pb2.ListDevicesRequest(), metadata=metadata, timeout=10)
            assert error_from_rpc(caught.value, "driver-manager").code == expected
            assert caught.value.code().name == expected.removeprefix("EIGEN_")
        ok = stub.ListDevices(
            driver_pb2.ListDevicesRequest(),
            metadata=((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "kernel")),
            timeout=10,
        )
        assert ok.devices
    assert call_context.active_context() is None


def test_channel_credentials_follow_the_tls_settings(tmp_path: Path) -> None:
    assert internal.channel_credentials(Settings()) is None  # plain text, as the servers
    cert, key = tmp_path / "roles.crt", tmp_path / "roles.key"
    with pytest.raises(ValueError, match=r"roles\.crt"):
        internal.channel_credentials(Settings(tls_cert_file=cert, tls_key_file=key))
    cert.write_text("-----BEGIN CERTIFICATE-----\n")  # read here; OpenSSL checks it at the handshake
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    assert isinstance(
        internal.channel_credentials(Settings(tls_cert_file=cert, tls_key_file=key)), grpc.ChannelCredentials
    )
    mutual = Settings(tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=cert)
    assert isinstance(internal.channel_credentials(mutual), grpc.ChannelCredentials)
