"""Shared pieces of the REST gateway tests: a real embedded server with HTTP on a free
port, JSON builders, and a reader of server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL

PROBLEM_JSON = "application/problem+json"


@contextmanager
def rest_server(data_dir: Path) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(data_dir=data_dir, http_port=0) as running:
        assert running.http_port
        yield running


@contextmanager
def rest_client(data_dir: Path) -> Iterator[httpx.Client]:
    """An httpx client on the REST gateway of a :func:`rest_server`."""
    with rest_server(data_dir) as running, httpx.Client(base_url=running.http_address, timeout=30) as client:
        yield client


def job(source: str = BELL, **fields: Any) -> dict[str, Any]:
    """A JobRequest body, like tests.integration.helpers.job for gRPC."""
    values: dict[str, Any] = {"name": "it", "target": "sim:statevector", "shots": 1000, "seed": 11}
    values.update(fields)
    return {"program": {"source": source}, **values}


def submit(client: httpx.Client, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = client.post("/v1/jobs", json={"job": body}, **kwargs)
    assert response.status_code == 201, response.text
    accepted: dict[str, Any] = response.json()["job"]
    return accepted


@contextmanager
def held_job(client: httpx.Client, server: EmbeddedServer) -> Iterator[dict[str, Any]]:
    """A job that is RUNNING on the gated ``test:held`` device for the whole block (it
    cannot end before the test is done looking); its run goes on when the block ends."""
    with holding(server) as held:
        accepted = submit(client, job(BELL, target=HELD, shots=10))
        held.wait_held()
        yield accepted


def cancel_all(client: httpx.Client, job_ids: Iterable[str]) -> None:
    for job_id in job_ids:
        client.post(f"/v1/jobs/{job_id}:cancel")  # 409 once ended: fine


def parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Events of a text/event-stream as dicts {id, event, data}; comments are skipped."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[name] = json.loads(value) if name == "data" else value
    if event:
        yield event


def watch(client: httpx.Client, job_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(response.iter_lines()))


def problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    """The problem body of ``response``, checked for status, reason and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["reason"] == reason, body
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body) == {
        "type",
        "title",
        "status",
        "detail",
        "reason",
        "retryable",
        "request_id",
        "violations",
    }
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [v["field"] for v in body["violations"]]
