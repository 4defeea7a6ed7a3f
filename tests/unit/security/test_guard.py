"""The Guard as the server composes it (``eigen.server.security.guard_from``), and how the
service layer uses it: one authorization per operation, tenant isolation, the quota the
kernel enforces audited as a refusal. Over a real in-process stack (SQLite in tmp_path)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eigen.config.settings import Settings
from eigen.errors import EigenError, NotFound, PermissionDenied, ResourceExhausted
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.audit import AuditEvent
from eigen.models.job import JobRequest
from eigen.models.principal import Principal, unauthenticated
from eigen.models.program import ProgramLanguage
from eigen.models.quota import NO_QUOTA, Quota
from eigen.observability import context as call_context
from eigen.security import ratelimit
from eigen.security.audit import AuditWriter
from eigen.security.guard import Guard
from eigen.security.identity import Identity
from eigen.security.policy import PolicyFile
from eigen.server.build import Stack, build
from eigen.server.security import guard_from
from eigen.system_api import batch_stream
from eigen.system_api.grpc import jobs as grpc_jobs
from eigen.system_api.rest import backends as rest_backends
from eigen.system_api.rest import jobs as rest_jobs
from eigen.system_api.rest.middleware import credentials_of
from eigen.system_api.service import JobApi, ListQuery, with_principal

BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
)
SECRET = "guard-test-server-secret-0123456789"


def request(target: str = "sim:statevector", shots: int = 10) -> JobRequest:
    return JobRequest(program=BELL, language=ProgramLanguage.QASM3, target=target, shots=shots, seed=3)


# -- composition -----------------------------------------------------------------------------
def test_no_security_settings_is_the_open_guard(tmp_path: Path) -> None:
    security = guard_from(Settings(data_dir=tmp_path))
    guard = security.guard
    assert guard == Guard() and not guard.required
    assert guard.authenticate(credentials_of({"type": "http", "headers": []})) is None
    guard.authorize(unauthenticated("someone"), "SubmitJob", backend="sim:statevector")
    assert guard.quota(unauthenticated()) == NO_QUOTA
    security.close()


def test_auth_required_composes_identity_keys_and_audit(tmp_path: Path) -> None:
    store = SqlJobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    settings = Settings(data_dir=tmp_path, auth_required=True, api_key_secret=SECRET)
    try:
        security = guard_from(settings, store.engine)
        guard = security.guard
        assert isinstance(guard.authenticator, Identity) and guard.required
        assert guard.authenticator.api_keys is not None  # API keys read from the store's tables
        assert isinstance(guard.audit, AuditWriter) and guard.policy is None
        with pytest.raises(EigenError) as refused:
            guard.authenticate(credentials_of({"type": "http", "headers": [], "client": ("10.0.0.9", 5)}))
        assert refused.value.code == "EIGEN_UNAUTHENTICATED"
        security.close()  # flushes the audit rows
        from eigen.kernel.store.audit import SqlAuditStore

        (row,) = SqlAuditStore(store.engine).recent()
        assert (row.kind, row.outcome, row.peer) == ("authentication", "failure", "ipv4:10.0.0.9:5")
    finally:
        store.close()


def test_auth_required_without_a_database_has_no_api_keys(tmp_path: Path) -> None:
    security = guard_from(Settings(data_dir=tmp_path, auth_required=True, api_key_secret=SECRET))
    assert isinstance(security.guard.authenticator, Identity)
    assert security.guard.authenticator.api_keys is None
    security.close()


def test_a_policy_file_is_the_guards_policy_and_is_audited(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - tenant: default\n    allowed_backends: [sim:stabilizer]\n")
    security = guard_from(Settings(data_dir=tmp_path, policy_file=policy))
    guard = security.guard
    assert isinstance(guard.policy, PolicyFile) and security.policy is guard.policy
    assert guard.authenticator is None and isinstance(guard.audit, AuditWriter)
    security.close()


def test_build_gives_the_api_the_guard_of_the_settings(tmp_path: Path) -> None:
    stack = build(Settings(data_dir=tmp_path, auth_required=True, api_key_secret=SECRET))
    try:
        assert stack.api is not None and stack.security is not None
        assert stack.api.guard is stack.security.guard and stack.api.guard.required
        assert stack.api.local
    finally:
        stack.close()


# -- the service layer -----------------------------------------------------------------------
@dataclass
class RecordingGuard(Guard):
    """A guard that records each authorization and refusal; ``quota_of`` per tenant."""

    calls: list[tuple[str, str | None]] = field(default_factory=list)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    quota_of: dict[str, Quota] = field(default_factory=dict)

    def authorize(self, principal: Principal, operation: str, *, backend: str | None = None) -> None:
        self.calls.append((operation, backend))
        super().authorize(principal, operation, backend=backend)

    def quota(self, principal: Principal) -> Quota:
        return self.quota_of.get(principal.tenant, NO_QUOTA)

    def refused(self, principal: Principal, operation: str, error: EigenError) -> None:
        self.refusals.append((operation, error.code))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    built = build(Settings(data_dir=tmp_path_factory.mktemp("guard")), guard=RecordingGuard())
    built.start()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def api(stack: Stack) -> JobApi:
    assert stack.api is not None and isinstance(stack.api.guard, RecordingGuard)
    stack.api.guard.calls.clear()
    stack.api.guard.refusals.clear()
    return stack.api


_activated: list[contextvars.Token[call_context.CallContext | None]] = []


@pytest.fixture(autouse=True)
def _restore_call_context() -> Iterator[None]:
    """Each test's calls end with it: no principal leaks into the next test."""
    yield
    while _activated:
        with contextlib.suppress(ValueError):  # set inside asyncio.run: that context is gone
            call_context.deactivate(_activated.pop())


def as_principal(principal: Principal) -> call_context.CallContext:
    call = with_principal(call_context.CallContext(request_id="r1", caller="forged-admin"), principal)
    _activated.append(call_context.activate(call))
    return call


ALPHA = Principal("alpha", "alice", frozenset({"submitter"}), "api_key")
BETA = Principal("beta", "alice", frozenset({"submitter"}), "api_key")
ADMIN = Principal("ops", "root", frozenset({"admin"}), "api_key")


def done_job(api: JobApi, principal: Principal) -> str:
    as_principal(principal)
    job, _ = api.submit(request())
    for _ in api.watch(job.id):
        pass
    return job.id


def calls(api: JobApi) -> list[tuple[str, str | None]]:
    assert isinstance(api.guard, RecordingGuard)
    return api.guard.calls


def test_the_principal_replaces_the_callers_header() -> None:
    call = as_principal(ALPHA)
    assert call.caller == "alice" and call.principal is ALPHA
    assert call_context.checked_caller(call) == "alice"
    plain = call_context.CallContext(request_id="r2", caller="bob")
    assert with_principal(plain, None) is plain and plain.principal == unauthenticated("bob")


def test_every_operation_is_authorized_once(api: JobApi) -> None:
    job_id = done_job(api, ALPHA)
    calls(api).clear()
    as_principal(ALPHA)
    operations = {
        "SubmitJob": lambda: api.submit(request(target="sim:stabilizer")),
        "GetJob": lambda: api.get(job_id),
        "ListJobs": lambda: api.list_jobs(ListQuery()),
        "CancelJob": lambda: api.cancel(job_id),
        "WatchJob": lambda: list(api.watch(job_id)),
        "GetJobResults": lambda: api.results(job_id),
        "StreamResults": lambda: api.result_chunks(job_id),
        "ListBackends": lambda: api.backends(),
        "GetBackend": lambda: api.backend("sim:statevector"),
        "GetCalibration": lambda: api.calibration("emu:manila"),
    }
    backend_of = {
        "SubmitJob": "sim:stabilizer",
        "GetBackend": "sim:statevector",
        "GetCalibration": "emu:manila",
    }
    for operation, call in operations.items():
        calls(api).clear()
        try:
            call()
        except EigenError as exc:  # a cancel of a DONE job: refused by the kernel, not the guard
            assert exc.code == "EIGEN_FAILED_PRECONDITION", (operation, exc)
        assert calls(api) == [(operation, backend_of.get(operation))], operation


def test_async_operations_are_authorized_once(api: JobApi) -> None:
    job_id = done_job(api, ALPHA)
    calls(api).clear()

    async def run() -> None:
        as_principal(ALPHA)
        await api.submit_async(request())
        assert calls(api) == [("SubmitJob", "sim:statevector")]
        calls(api).clear()
        assert [e async for e in api.watch_async(job_id)][-1].terminal
        assert calls(api) == [("WatchJob", None)]
        calls(api).clear()
        assert (await api.results_after(job_id, 1.0)).job_id == job_id
        assert calls(api) == [("GetJobResults", None)]

    asyncio.run(run())


def test_a_batch_is_authorized_for_each_of_its_backends(api: JobApi) -> None:
    as_principal(ALPHA)
    api.submit_batch([request("sim:statevector"), request("sim:stabilizer"), request("sim:statevector")])
    assert calls(api) == [("SubmitBatch", "sim:statevector"), ("SubmitBatch", "sim:stabilizer")]


def test_a_batch_stream_is_authorized_when_opened_and_per_item_backend(api: JobApi) -> None:
    as_principal(ALPHA)
    stream = batch_stream.open_batch_stream(api)
    assert calls(api) == [("SubmitBatchStream", None)]
    events = list(stream(iter([("a", request("sim:stabilizer"))]), lambda: True))
    assert [e.kind for e in events] == ["submitted", "completed"]
    assert calls(api) == [("SubmitBatchStream", None), ("SubmitBatchStream", "sim:stabilizer")]


def test_a_viewer_is_refused_the_batch_stream_before_any_item() -> None:
    viewer = Principal("alpha", "vera", frozenset({"viewer"}), "api_key")
    as_principal(viewer)
    with pytest.raises(PermissionDenied):
        batch_stream.open_batch_stream(JobApi(kernel=None, guard=Guard()))  # type: ignore[arg-type]


def test_another_tenants_job_is_the_not_found_of_an_unknown_job(api: JobApi) -> None:
    job_id = done_job(api, ALPHA)
    as_principal(BETA)
    with pytest.raises(NotFound) as unknown:
        api.get("nosuchjob00000000")
    expected = unknown.value.message.replace("nosuchjob00000000", job_id)
    reads = [
        lambda: api.get(job_id),
        lambda: api.cancel(job_id),
        lambda: api.watch(job_id),
        lambda: api.results(job_id),
        lambda: api.result_chunks(job_id),
        lambda: asyncio.run(api.results_after(job_id, 30.0)),
    ]
    for read in reads:
        began = time.monotonic()
        with pytest.raises(NotFound) as refused:
            read()
        assert refused.value.message == expected and time.monotonic() - began < 5

    async def watch() -> None:
        with pytest.raises(NotFound) as refused:
            _ = [e async for e in api.watch_async(job_id)]
        assert refused.value.message == expected

    asyncio.run(watch())
    assert job_id not in {j.id for j in api.list_jobs(ListQuery(page_size=500))[0]}
    assert not api.list_jobs(ListQuery(id_prefix=job_id[:8]))[0]
    as_principal(ADMIN)
    assert api.get(job_id).tenant == "alpha"
    assert job_id in {j.id for j in api.list_jobs(ListQuery(id_prefix=job_id[:8]))[0]}


def test_a_kernel_quota_refusal_is_audited(api: JobApi) -> None:
    assert isinstance(api.guard, RecordingGuard)
    api.guard.quota_of["tight"] = Quota(max_shots_per_job=5)
    as_principal(Principal("tight", "tim", frozenset({"submitter"}), "api_key"))
    with pytest.raises(ResourceExhausted) as refused:
        api.submit(request(shots=10))
    assert refused.value.metadata["limit"] == "max_shots_per_job"
    assert api.guard.refusals == [("SubmitJob", "EIGEN_RESOURCE_EXHAUSTED")]
    as_principal(Principal("roomy", "rae", frozenset({"submitter"}), "api_key"))
    api.submit(request(shots=10))  # another tenant: no quota


def test_handlers_check_nothing_themselves() -> None:
    """Authorization is the service layer's alone: no edge module calls the guard's
    authorize or the permission table."""
    for module in (grpc_jobs, rest_jobs, rest_backends):
        source = inspect.getsource(module)
        assert "authorize(" not in source and "permissions" not in source, module.__name__


# -- the other pieces of the edges -----------------------------------------------------------
def test_rate_limit_buckets_are_per_tenant_and_subject() -> None:
    assert ratelimit.caller_key("alice", "ipv4:1.2.3.4:5", ALPHA) != ratelimit.caller_key(
        "alice", "ipv4:1.2.3.4:5", BETA
    )
    assert ratelimit.caller_key("alice", "ipv4:1.2.3.4:5") == "caller:alice"


def test_rest_credentials_of_a_scope() -> None:
    scope = {
        "type": "http",
        "headers": [(b"authorization", b"Bearer x"), (b"x-api-key", b"k")],
        "client": ("::1", 7),
        "eigen.certificate_names": ["client-a", "spiffe://acme/a"],
    }
    credentials = credentials_of(scope)
    assert credentials.headers == {"authorization": "Bearer x", "x-api-key": "k"}
    assert credentials.peer == "ipv6:[::1]:7"
    assert credentials.certificate_names == ("client-a", "spiffe://acme/a")


def test_audit_event_of_a_refused_authorization(tmp_path: Path) -> None:
    recorded: list[AuditEvent] = []

    class Memory:
        def record(self, event: AuditEvent) -> None:
            recorded.append(event)

    guard = Guard(audit=Memory())
    viewer = Principal("alpha", "vera", frozenset({"viewer"}), "api_key")
    with pytest.raises(PermissionDenied):
        guard.authorize(viewer, "CancelJob")
    (event,) = recorded
    assert (event.kind, event.outcome, event.tenant, event.operation) == (
        "refusal",
        "denied",
        "alpha",
        "CancelJob",
    )
