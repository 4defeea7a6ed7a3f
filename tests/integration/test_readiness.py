"""``/health/ready`` of the processes without the API: a kernel checks its store and its
driver-manager, a driver-manager its devices, a compiler only answers. Real gRPC servers
on free loopback ports, real HTTP, a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from eigen.config.settings import Settings
from eigen.server.build import Stack, build
from eigen.server.grpc_server import GrpcServer, start_grpc
from eigen.server.http import HttpServer, start_http

pytestmark = pytest.mark.integration


@contextmanager
def role(name: str, settings: Settings) -> Iterator[tuple[Stack, GrpcServer, HttpServer, str]]:
    """One role's stack, serving gRPC and HTTP; yields (stack, grpc server, http, address)."""
    stack = build(settings, [name])
    stack.start()
    server, port = start_grpc(stack, settings)
    http = start_http(stack, settings)
    try:
        yield stack, server, http, f"127.0.0.1:{port}"
    finally:
        http.stop()
        server.stop(0).wait()
        stack.close()


def test_each_role_reports_what_it_needs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0, http_port=0)
    with ExitStack() as running:
        _, drivers_grpc, drivers_http, drivers = running.enter_context(role("driver-manager", settings))
        _, _, compiler_http, compiler = running.enter_context(role("compiler", settings))
        wired = settings.model_copy(update={"driver_manager_address": drivers, "compiler_address": compiler})
        _, _, kernel_http, _ = running.enter_context(role("kernel", wired))

        ready = httpx.get(f"{drivers_http.url}/health/ready", timeout=10)
        assert ready.status_code == 200 and set(ready.json()["checks"]) == {"backends"}
        compiler_ready = httpx.get(f"{compiler_http.url}/health/ready", timeout=10)
        assert compiler_ready.json() == {"status": "ok", "checks": {}}
        kernel = httpx.get(f"{kernel_http.url}/health/ready", timeout=10)
        assert kernel.status_code == 200, kernel.text
        assert kernel.json()["checks"]["store"] == "ok"
        assert kernel.json()["checks"]["backends"].startswith("ok (")

        drivers_grpc.stop(0).wait()  # the kernel's driver-manager goes away: not ready
        down = httpx.get(f"{kernel_http.url}/health/ready", timeout=90)
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        assert "backends" in down.json()["detail"]
        assert httpx.get(f"{kernel_http.url}/health/live", timeout=10).status_code == 200
