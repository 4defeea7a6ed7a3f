"""The REST gateway beyond jobs: backends, health, the OpenAPI document, error handling of
the app itself, and ``eigen-server serve --http-port``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from eigen.errors import Unavailable
from eigen.observability import metrics
from eigen.security import ratelimit
from eigen.server.embedded import EmbeddedServer
from eigen.server.http import HttpServer, bind
from eigen.system_api.rest import create_app
from eigen.system_api.service import JobApi
from tests.integration.rest_helpers import PROBLEM_JSON, fields, job, problem, rest_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with rest_server(tmp_path_factory.mktemp("rest-service")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_address, timeout=30) as opened:
        yield opened


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    """``app`` on a real HTTP server of its own, on a free loopback port."""
    http = HttpServer(app, bind("127.0.0.1", 0), app.state.closing, grace_s=1).start()
    try:
        with httpx.Client(base_url=http.url, timeout=10) as opened:
            yield opened
    finally:
        http.stop()
        assert not http.thread.is_alive()


def test_backends(client: httpx.Client) -> None:
    listed = {b["name"]: b for b in client.get("/v1/backends").json()["backends"]}
    assert {"sim:statevector", "sim:stabilizer", "emu:manila"} <= set(listed)
    assert all(b["status"] == "ONLINE" and b["queue_depth"] >= 0 for b in listed.values())
    manila = client.get("/v1/backends/emu:manila").json()
    assert (
        manila["num_qubits"] == 5 and manila["coupling_map"] and manila["noisy"] and manila["calibration_id"]
    )
    assert set(manila["coupling_map"][0]) == {"control", "target"}
    calibration = client.get("/v1/backends/emu:manila/calibration").json()
    assert calibration["backend"] == "emu:manila" and len(calibration["qubits"]) == 5
    assert client.get("/v1/backends/sim:local").json()["name"] == "sim:statevector"
    problem(client.get("/v1/backends/qpu:missing"), 404, "EIGEN_NOT_FOUND")
    problem(client.get("/v1/backends/qpu:missing/calibration"), 404, "EIGEN_NOT_FOUND")


def test_health(client: httpx.Client) -> None:
    assert client.get("/health/live").json()["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "backends": "ok (5 backends)",
        "duties": "ok",
        "kernel": "ok",
        "store": "ok",
    }


def test_openapi_mirrors_every_rpc(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    operations = {
        op["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert operations == {
        "SubmitJob": ("POST", "/v1/jobs"),
        "SubmitBatch": ("POST", "/v1/jobs:batch"),
        "ListJobs": ("GET", "/v1/jobs"),
        "GetJob": ("GET", "/v1/jobs/{job_id}"),
        "CancelJob": ("POST", "/v1/jobs/{job_id}:cancel"),
        "WatchJob": ("GET", "/v1/jobs/{job_id}/events"),
        "WatchJobs": ("GET", "/v1/jobs:events"),
        "GetJobProgram": ("GET", "/v1/jobs/{job_id}/program"),
        "GetJobResults": ("GET", "/v1/jobs/{job_id}/results"),
        "StreamResults": ("GET", "/v1/jobs/{job_id}/results:stream"),
        "ListBackends": ("GET", "/v1/backends"),
        "GetBackend": ("GET", "/v1/backends/{name}"),
        "GetCalibration": ("GET", "/v1/backends/{name}/calibration"),
        "ListDeadLetters": ("GET", "/v1/dead-letters"),
        "OpenSession": ("POST", "/v1/sessions"),
        "GetSession": ("GET", "/v1/sessions/{session_id}"),
        "CloseSession": ("POST", "/v1/sessions/{session_id}:close"),
        "CancelSession": ("POST", "/v1/sessions/{session_id}:cancel"),
        "Live": ("GET", "/health/live"),
        "Ready": ("GET", "/health/ready"),
    }
    assert "SubmitBatchStream" in document["info"]["description"]  # a WebSocket: not in paths
    assert "/v1/jobs:batchStream" in document["info"]["description"]
    for item in document["paths"].values():
        for op in item.values():
            assert "422" not in op["responses"]
            assert list(op["responses"]["default"]["content"]) == [PROBLEM_JSON]
    schemas = document["components"]["schemas"]
    assert schemas["JobState"]["enum"] == [
        "PENDING",
        "COMPILING",
        "QUEUED",
        "RUNNING",
        "DONE",
        "ERROR",
        "CANCELLED",
        "TIMEOUT",
    ]
    assert {"job", "idempotency_key"} == set(schemas["SubmitJobRequest"]["properties"])
    assert "ResultChunk" in schemas and "HTTPValidationError" not in schemas


def test_submissions_share_the_grpc_rate_limiter(client: httpx.Client) -> None:
    previous = ratelimit.installed()
    ratelimit.install(ratelimit.RateLimiter(0.01, 1))
    try:
        headers = {"x-eigen-caller": "rest-rate-limited"}
        first = client.post("/v1/jobs", json={"job": job()}, headers=headers)
        assert first.status_code == 201
        second = client.post("/v1/jobs:batch", json={"jobs": [job()]}, headers=headers)
        body = problem(second, 429, "EIGEN_RESOURCE_EXHAUSTED")
        assert body["retryable"] is True and int(second.headers["retry-after"]) >= 1
        assert client.get("/v1/jobs", headers=headers).status_code == 200  # reads are not limited
    finally:
        ratelimit.install(previous)


def test_http_errors_are_problems(client: httpx.Client) -> None:
    problem(client.get("/v1/no-such-route"), 404, "EIGEN_NOT_FOUND")
    problem(client.delete("/v1/jobs"), 405, "EIGEN_METHOD_NOT_ALLOWED")


class _Broken(JobApi):
    """A service layer whose calls fail: unexpectedly (a bug) or as unavailable."""

    def __init__(self) -> None:
        pass

    def backends(self) -> Any:
        raise Unavailable("driver manager unreachable")

    def get(self, job_id: str) -> Any:
        raise RuntimeError("secret internals /etc/eigen.yaml")

    def list_jobs(self, query: Any) -> Any:
        raise RuntimeError("database is on fire")


def test_unexpected_errors_are_internal_problems_without_a_trace(caplog: pytest.LogCaptureFixture) -> None:
    with serving(create_app(_Broken())) as local:
        response = local.get("/v1/jobs/abc", headers={"x-request-id": "boom-1"})
        assert response.status_code == 500
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.headers["x-request-id"] == "boom-1"
        body = response.json()
        assert body["reason"] == "EIGEN_INTERNAL" and body["request_id"] == "boom-1"
        assert "secret" not in response.text and "Traceback" not in response.text
    assert any("unhandled error" in r.message and r.exc_info for r in caplog.records)


def test_not_ready_is_a_503_problem() -> None:
    with serving(create_app(_Broken())) as local:
        assert local.get("/health/live").status_code == 200
        response = local.get("/health/ready")
        assert response.status_code == 503 and response.headers["content-type"].startswith(PROBLEM_JSON)
        body = response.json()
        assert body["reason"] == "EIGEN_UNAVAILABLE" and body["retryable"] is True
        assert "backends: driver manager unreachable" in body["detail"]
        assert "store: RuntimeError" in body["detail"] and "fire" not in body["detail"]


class _Idle(JobApi):
    """A service layer whose job never has another event: a watch waits until stopped."""

    def __init__(self) -> None:
        self.watching = threading.Event()
        self.stopped = threading.Event()

    def get(self, job_id: str) -> Any:
        return None

    def watch(self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True) -> Any:
        def events() -> Iterator[Any]:
            self.watching.set()
            while active():
                time.sleep(0.02)
            self.stopped.set()
            yield from ()

        return events()


def test_idle_watch_keeps_alive_and_shutdown_ends_it() -> None:
    api = _Idle()
    app = create_app(api, keep_alive_s=0.1)
    http = HttpServer(app, bind("127.0.0.1", 0), app.state.closing, grace_s=1).start()
    received: list[str] = []

    def read() -> None:
        with httpx.stream("GET", f"{http.url}/v1/jobs/idle/events", timeout=10) as response:
            received.extend(response.iter_lines())

    reader = threading.Thread(target=read)
    reader.start()
    assert api.watching.wait(5)
    time.sleep(0.35)
    began = time.monotonic()
    http.stop()
    assert time.monotonic() - began < 3, "an open event stream held up the shutdown"
    reader.join(5)
    assert not reader.is_alive() and api.stopped.is_set()
    assert ": keep-alive" in received


def test_request_body_limit_is_a_413_problem() -> None:
    with serving(create_app(_Broken(), max_body_bytes=100)) as local:
        big = {"job": {"program": {"source": "x" * 1000}}}
        problem(local.post("/v1/jobs", json=big), 413, "EIGEN_INVALID_ARGUMENT")
        chunked = iter([b'{"job": {"program": {"source": "', b"x" * 1000, b'"}}}'])
        response = local.post("/v1/jobs", content=chunked, headers={"content-type": "application/json"})
        problem(response, 413, "EIGEN_INVALID_ARGUMENT")


def test_extra_routers_and_mounts() -> None:
    from fastapi import APIRouter

    extra = APIRouter()

    @extra.get("/extra")
    def extra_route() -> dict[str, str]:
        return {"extra": "yes"}

    async def plain_asgi(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"metrics 1\n"})

    app = create_app(None, extra_routers=[extra], mounts={"/metrics": plain_asgi})
    with serving(app) as local:
        assert local.get("/extra").json() == {"extra": "yes"}
        for path in ("/metrics", "/metrics/"):
            response = local.get(path, follow_redirects=False)
            assert response.status_code == 200 and response.text == "metrics 1\n"
            assert response.headers["x-request-id"]
        assert local.get("/health/ready").json() == {"status": "ok", "checks": {}}
        assert local.get("/v1/jobs").status_code == 404  # no API in this process


def test_serve_with_http_port(tmp_path: Path) -> None:
    env = {**os.environ, "EIGEN_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "eigen.server", "serve", "--port", "0", "--http-port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                pytest.fail(f"eigen-server exited with {process.returncode}")
            found = re.search(r"serving HTTP on (http://\S+)", line)
            url = found.group(1) if found else ""
        assert url, "eigen-server did not report its HTTP address"
        assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200
        body = problem(
            httpx.get(f"{url}/v1/jobs", params={"page_size": 0.5}, timeout=10), 400, "EIGEN_INVALID_ARGUMENT"
        )
        assert fields(body) == ["page_size"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_rest_calls_move_the_api_metrics(client: httpx.Client) -> None:
    def count(method: str, code: str) -> float:
        return metrics.value("eigen_api_requests_total", {"service": "REST", "method": method, "code": code})

    def observed(method: str, code: str) -> float:
        labels = {"service": "REST", "method": method, "code": code}
        return metrics.value("eigen_api_request_duration_seconds_count", labels)

    ok, missing, unmatched = (
        count("ListBackends", "OK"),
        count("GetJob", "NOT_FOUND"),
        count("unmatched", "NOT_FOUND"),
    )
    timed = observed("ListBackends", "OK")
    assert client.get("/v1/backends").status_code == 200
    assert client.get("/v1/jobs/no-such-job").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    assert count("ListBackends", "OK") == ok + 1 and observed("ListBackends", "OK") == timed + 1
    assert count("GetJob", "NOT_FOUND") == missing + 1
    assert count("unmatched", "NOT_FOUND") == unmatched + 1  # a stray path never becomes a label
    assert 'method="/no/such/path"' not in metrics.render().decode()
