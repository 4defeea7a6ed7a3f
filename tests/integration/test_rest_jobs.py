"""The REST gateway's JobService routes against a real embedded server (HTTP on port 0)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect as ws_connect

from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL
from tests.integration.rest_helpers import (
    cancel_all,
    fields,
    held_job,
    job,
    parse_sse,
    problem,
    rest_server,
    submit,
    watch,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with rest_server(tmp_path_factory.mktemp("rest-jobs")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_address, timeout=60) as opened:
        yield opened


def listed(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_bell_job_end_to_end(client: httpx.Client) -> None:
    accepted = submit(client, job())
    assert accepted["state"] == "PENDING" and accepted["id"] and accepted["language"] == "QASM3"
    events = watch(client, accepted["id"])
    states = [e["data"]["state"] for e in events if e["event"] == "state"]
    assert states == ["PENDING", "COMPILING", "QUEUED", "RUNNING", "DONE"]
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert [e["data"]["event_seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["data"]["terminal"] and not any(e["data"]["terminal"] for e in events[:-1])
    results = client.get(f"/v1/jobs/{accepted['id']}/results").json()
    counts = results["experiments"][0]["counts"]
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
    assert results["state"] == "DONE" and results["seed"] == 11 and results["backend"] == "sim:statevector"
    assert results["compile_report"]["after"]["depth"] > 0
    fetched = client.get(f"/v1/jobs/{accepted['id']}").json()
    assert fetched["state"] == "DONE" and "execute_s" in fetched["timings"]
    assert fetched["last_event_seq"] == len(events) and fetched["finished_at"].endswith("Z")


def test_submit_answers_created_with_location(client: httpx.Client) -> None:
    response = client.post("/v1/jobs", json={"job": job()})
    assert response.status_code == 201
    body = response.json()
    assert body["deduplicated"] is False
    assert response.headers["location"] == f"/v1/jobs/{body['job']['id']}"


def test_watch_resumes_after_seq_and_last_event_id(client: httpx.Client) -> None:
    accepted = submit(client, job())
    everything = watch(client, accepted["id"])
    after = watch(client, accepted["id"], params={"after_seq": 2})
    assert [e["id"] for e in after] == [e["id"] for e in everything[2:]]
    resumed = watch(client, accepted["id"], headers={"Last-Event-ID": "4"}, params={"after_seq": 1})
    assert [e["id"] for e in resumed] == [e["id"] for e in everything[4:]]
    assert watch(client, accepted["id"], params={"after_seq": 99}) == []
    body = problem(
        client.get(f"/v1/jobs/{accepted['id']}/events", params={"after_seq": -1}),
        400,
        "EIGEN_INVALID_ARGUMENT",
    )
    assert fields(body) == ["after_seq"]
    for params, headers, field in (
        ({"after_seq": 2**70}, {}, "after_seq"),
        ({}, {"Last-Event-ID": "x"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": str(2**70)}, "Last-Event-ID"),
    ):
        response = client.get(f"/v1/jobs/{accepted['id']}/events", params=params, headers=headers)
        assert fields(problem(response, 400, "EIGEN_INVALID_ARGUMENT")) == [field]


def sse_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("eigen-sse-")]


def test_watch_stops_when_the_client_goes_away(client: httpx.Client, server: EmbeddedServer) -> None:
    with held_job(client, server) as target:
        with client.stream("GET", f"/v1/jobs/{target['id']}/events") as response:
            first = next(parse_sse(response.iter_lines()))
            assert first["id"] == "1" and first["data"]["state"] == "PENDING"
            assert any(target["id"] in t.name for t in sse_threads())
        deadline = time.monotonic() + 5
        while any(target["id"] in t.name for t in sse_threads()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(target["id"] in t.name for t in sse_threads()), "the watch outlived its client"
        assert client.get(f"/v1/jobs/{target['id']}").json()["state"] == "RUNNING"
        cancel_all(client, [target["id"]])


@pytest.mark.parametrize(
    ("body", "status", "reason", "field"),
    [
        (job(""), 400, "EIGEN_INVALID_ARGUMENT", "job.program.source"),
        (job("   \n"), 400, "EIGEN_INVALID_ARGUMENT", "job.program.source"),
        ({"name": "it"}, 400, "EIGEN_INVALID_ARGUMENT", "job.program"),
        (job("this is not a circuit at all"), 400, "EIGEN_INVALID_ARGUMENT", "program"),
        (job("OPENQASM 3.0;\x00\x01\x02\xff"), 400, "EIGEN_INVALID_ARGUMENT", "job.program.source"),
        (job(BELL, shots=0), 400, "EIGEN_INVALID_ARGUMENT", "shots"),
        (job(BELL, shots=10_000_001), 400, "EIGEN_INVALID_ARGUMENT", "job.shots"),
        (job(BELL, shots="many"), 400, "EIGEN_INVALID_ARGUMENT", "job.shots"),
        (job(BELL, seed=2**64), 400, "EIGEN_INVALID_ARGUMENT", "job.seed"),
        (job(BELL, priority=101), 400, "EIGEN_INVALID_ARGUMENT", "job.priority"),
        (job(BELL, name="has space"), 400, "EIGEN_INVALID_ARGUMENT", "job.name"),
        (job(BELL, colour="red"), 400, "EIGEN_INVALID_ARGUMENT", "job.colour"),
        (job(BELL, labels={"k": 1}), 400, "EIGEN_INVALID_ARGUMENT", "job.labels.k"),
        (job("OPENQASM 3.0; qubit[40] q; h q[39];"), 400, "EIGEN_INVALID_ARGUMENT", "program"),
        (job(BELL, target="sim:nowhere"), 404, "EIGEN_NOT_FOUND", ""),
    ],
    ids=[
        "empty",
        "blank",
        "no-program",
        "garbage",
        "binary",
        "zero-shots",
        "too-many-shots",
        "shots-not-a-number",
        "seed-beyond-int64",
        "priority",
        "name",
        "unknown-field",
        "label-not-text",
        "too-many-qubits",
        "unknown-backend",
    ],
)
def test_bad_input_gets_a_precise_problem(
    client: httpx.Client, body: dict[str, Any], status: int, reason: str, field: str
) -> None:
    before = len(listed(client, page_size=500)["jobs"])
    response = client.post("/v1/jobs", json={"job": body}, headers={"x-request-id": "bad-input-1"})
    found = problem(response, status, reason)
    assert found["request_id"] == "bad-input-1" and found["retryable"] is False
    assert found["type"].endswith(reason) and found["detail"]
    if field:
        assert field in fields(found), found
    assert len(listed(client, page_size=500)["jobs"]) == before  # nothing created


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b'{"job": {"program": {"source": "OPENQASM 3.0;"}, "labels": {"k": "\\ud800"}}}', "job.labels.k"),
        (b'{"job": {"program": {"source": "OPENQASM 3.0;"}, "timeout_seconds": NaN}}', "job.timeout_seconds"),
        (
            b'{"job": {"program": {"source": "x"}, "observables": [{"terms": [{"coefficient": Infinity}]}]}}',
            "",
        ),
    ],
    ids=["malformed", "lone-surrogate", "nan", "infinity"],
)
def test_raw_bodies_that_json_allows_and_text_does_not(client: httpx.Client, raw: bytes, field: str) -> None:
    response = client.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
    body = problem(response, 400, "EIGEN_INVALID_ARGUMENT")
    assert body["violations"]
    if field:
        assert fields(body) == [field]


def test_unknown_job_is_not_found(client: httpx.Client) -> None:
    for method, path in (
        ("GET", "/v1/jobs/doesnotexist"),
        ("POST", "/v1/jobs/doesnotexist:cancel"),
        ("GET", "/v1/jobs/doesnotexist/results"),
        ("GET", "/v1/jobs/doesnotexist/results:stream"),
        ("GET", "/v1/jobs/doesnotexist/events"),
    ):
        problem(client.request(method, path), 404, "EIGEN_NOT_FOUND")
    body = problem(client.get("/v1/jobs/not.a.job-id"), 400, "EIGEN_INVALID_ARGUMENT")
    assert fields(body) == ["job_id"]


def test_results_with_a_wait(client: httpx.Client) -> None:
    accepted = submit(client, job())
    waited = client.get(f"/v1/jobs/{accepted['id']}/results", params={"wait_seconds": 60})
    assert waited.status_code == 200, waited.text
    assert sum(waited.json()["experiments"][0]["counts"].values()) == 1000
    for bad in ("-1", "3601", "nan"):
        response = client.get(f"/v1/jobs/{accepted['id']}/results", params={"wait_seconds": bad})
        body = problem(response, 400, "EIGEN_INVALID_ARGUMENT")
        assert "wait_seconds" in body["detail"]


def test_results_before_terminal_and_cancel_is_final(client: httpx.Client, server: EmbeddedServer) -> None:
    with held_job(client, server) as accepted:
        body = problem(client.get(f"/v1/jobs/{accepted['id']}/results"), 409, "EIGEN_FAILED_PRECONDITION")
        assert "results are available once it is DONE" in body["detail"]
        problem(client.get(f"/v1/jobs/{accepted['id']}/results:stream"), 409, "EIGEN_FAILED_PRECONDITION")
        cancelled = client.post(f"/v1/jobs/{accepted['id']}:cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "CANCELLED"
    # the held run returned meanwhile: the job stays cancelled
    events = watch(client, accepted["id"])
    assert events[-1]["data"]["state"] == "CANCELLED" and events[-1]["data"]["terminal"]
    again = client.post(f"/v1/jobs/{accepted['id']}:cancel")
    assert again.status_code == 200 and again.json()["state"] == "CANCELLED"
    problem(client.get(f"/v1/jobs/{accepted['id']}/results"), 409, "EIGEN_FAILED_PRECONDITION")


def test_request_id_is_echoed_or_generated(client: httpx.Client) -> None:
    response = client.get("/v1/jobs", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    for path in ("/v1/jobs", "/health/live", "/v1/no-such-route", "/openapi.json"):
        generated = client.get(path).headers["x-request-id"]
        assert len(generated) >= 8
    events = client.get("/v1/jobs/doesnotexist/events", headers={"x-request-id": "sse-1"})
    assert events.headers["x-request-id"] == "sse-1"


def test_caller_header_owns_the_job(client: httpx.Client) -> None:
    accepted = submit(client, job(), headers={"x-eigen-caller": "alice"})
    assert accepted["owner"] == "alice"
    assert submit(client, job())["owner"] == "anonymous"


def test_idempotency_key(client: httpx.Client) -> None:
    first = client.post("/v1/jobs", json={"job": job(), "idempotency_key": "rest-idem-1"})
    again = client.post("/v1/jobs", json={"job": job()}, headers={"Idempotency-Key": "rest-idem-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["job"]["id"] == first.json()["job"]["id"]
    assert again.json()["deduplicated"] and not first.json()["deduplicated"]
    conflict = client.post("/v1/jobs", json={"job": job(shots=7)}, headers={"Idempotency-Key": "rest-idem-1"})
    problem(conflict, 409, "EIGEN_FAILED_PRECONDITION")
    both = client.post(
        "/v1/jobs", json={"job": job(), "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert fields(problem(both, 400, "EIGEN_INVALID_ARGUMENT")) == ["idempotency_key"]
    bad = client.post("/v1/jobs", json={"job": job(), "idempotency_key": "has space"})
    assert fields(problem(bad, 400, "EIGEN_INVALID_ARGUMENT")) == ["idempotency_key"]


def test_batch_idempotency_key(client: httpx.Client) -> None:
    batch = {"jobs": [job(seed=1), job(seed=2)]}
    first = client.post("/v1/jobs:batch", json={**batch, "idempotency_key": "rest-batch-1"})
    again = client.post("/v1/jobs:batch", json=batch, headers={"Idempotency-Key": "rest-batch-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == {"job_ids": first.json()["job_ids"], "deduplicated": True}
    assert not first.json()["deduplicated"]
    other = {"jobs": [job(seed=1), job(seed=3)]}
    conflict = client.post("/v1/jobs:batch", json=other, headers={"Idempotency-Key": "rest-batch-1"})
    assert "different batch" in problem(conflict, 409, "EIGEN_FAILED_PRECONDITION")["detail"]
    both = client.post(
        "/v1/jobs:batch", json={**batch, "idempotency_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert fields(problem(both, 400, "EIGEN_INVALID_ARGUMENT")) == ["idempotency_key"]
    unkeyed = client.post("/v1/jobs:batch", json=batch)
    assert unkeyed.status_code == 201 and not set(unkeyed.json()["job_ids"]) & set(first.json()["job_ids"])


def test_batch_is_all_or_nothing(client: httpx.Client) -> None:
    label = {"suite": "rest-batch"}
    response = client.post(
        "/v1/jobs:batch", json={"jobs": [job(labels=label), job(labels=label, shots=0), job(labels=label)]}
    )
    body = problem(response, 400, "EIGEN_INVALID_ARGUMENT")
    assert any(f.startswith("jobs[1].") for f in fields(body)), body
    assert listed(client, label="suite=rest-batch")["jobs"] == []
    response = client.post("/v1/jobs:batch", json={"jobs": [job(labels=label), job(labels=label, shots="x")]})
    assert fields(problem(response, 400, "EIGEN_INVALID_ARGUMENT")) == ["jobs[1].shots"]
    response = client.post("/v1/jobs:batch", json={"jobs": [job(labels=label), job("", labels=label)]})
    assert fields(problem(response, 400, "EIGEN_INVALID_ARGUMENT")) == ["jobs[1].program.source"]
    assert fields(
        problem(client.post("/v1/jobs:batch", json={"jobs": []}), 400, "EIGEN_INVALID_ARGUMENT")
    ) == ["jobs"]
    created = client.post("/v1/jobs:batch", json={"jobs": [job(labels=label, seed=s) for s in (1, 2)]})
    assert created.status_code == 201
    ids = created.json()["job_ids"]
    assert len(ids) == 2
    for job_id in ids:
        assert watch(client, job_id)[-1]["data"]["state"] == "DONE"
    assert {j["id"] for j in listed(client, label="suite=rest-batch")["jobs"]} == set(ids)


def test_list_jobs_filters_and_pages(client: httpx.Client) -> None:
    started = time.time()
    ids = []
    for index in range(3):
        accepted = submit(client, job(labels={"suite": "rest-listing", "n": str(index)}))
        watch(client, accepted["id"])
        ids.append(accepted["id"])
    page = listed(client, label="suite=rest-listing", page_size=2)
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2] and page["next_page_token"]
    rest = listed(client, label="suite=rest-listing", page_size=2, page_token=page["next_page_token"])
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and not rest["next_page_token"]
    both = listed(client, label=["suite=rest-listing", "n=1"])
    assert [j["id"] for j in both["jobs"]] == [ids[1]]
    done = listed(client, state=["DONE", "ERROR"], label="suite=rest-listing")
    assert {j["id"] for j in done["jobs"]} == set(ids)
    assert listed(client, state="RUNNING", label="suite=rest-listing")["jobs"] == []
    assert len(listed(client, target="sim:statevector", label="suite=rest-listing")["jobs"]) == 3
    assert listed(client, target="emu:manila", label="suite=rest-listing")["jobs"] == []
    recent = listed(client, label="suite=rest-listing", created_after=str(started - 1))
    assert len(recent["jobs"]) == 3
    rfc3339 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 3600))
    assert listed(client, label="suite=rest-listing", created_before=rfc3339)["jobs"] == []
    assert len(listed(client, label="suite=rest-listing", created_after=rfc3339)["jobs"]) == 3
    for params, field in (
        ({"page_token": "garbage"}, "page_token"),
        ({"page_size": 501}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"label": "no-equals"}, "label"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "nan"}, "created_before"),
        ({"state": "SLEEPING"}, "state[0]"),
    ):
        body = problem(client.get("/v1/jobs", params=params), 400, "EIGEN_INVALID_ARGUMENT")
        assert fields(body) == [field], (params, body)


def test_results_stream_merges_into_results(client: httpx.Client) -> None:
    source = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nbit[3] c;\nh q;\nc = measure q;\n'
    accepted = submit(client, job(source, shots=2000))
    watch(client, accepted["id"])
    whole = client.get(f"/v1/jobs/{accepted['id']}/results").json()
    response = client.get(f"/v1/jobs/{accepted['id']}/results:stream", params={"chunk_size": 3})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    chunks = [httpx.Response(200, content=line).json() for line in response.text.splitlines()]
    assert [c["index"] for c in chunks] == list(range(len(chunks))) and len(chunks) >= 3
    assert {c["total"] for c in chunks} == {len(chunks)}
    assert [c["is_final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    merged: dict[int, dict[str, int]] = {}
    for chunk in chunks:
        assert chunk["job_id"] == accepted["id"]
        for position, fragment in zip(
            chunk["experiment_indices"], chunk["partial"]["experiments"], strict=True
        ):
            assert len(fragment["counts"]) <= 3
            merged.setdefault(position, {}).update(fragment["counts"])
    assert [merged[i] for i in sorted(merged)] == [e["counts"] for e in whole["experiments"]]
    assert chunks[0]["partial"]["seed"] == whole["seed"]
    assert chunks[0]["partial"]["compile_report"] == whole["compile_report"]
    default = client.get(f"/v1/jobs/{accepted['id']}/results:stream").text.splitlines()
    assert len(default) == 1
    bad = client.get(f"/v1/jobs/{accepted['id']}/results:stream", params={"chunk_size": -1})
    assert fields(problem(bad, 400, "EIGEN_INVALID_ARGUMENT")) == ["chunk_size"]


def batch_stream(server: EmbeddedServer, messages: list[str]) -> tuple[list[dict[str, Any]], int | None]:
    """Send ``messages`` on the SubmitBatchStream WebSocket; every answer and the close code."""
    url = server.http_address.replace("http://", "ws://") + "/v1/jobs:batchStream"
    answers: list[dict[str, Any]] = []
    with ws_connect(url, open_timeout=10, close_timeout=10) as socket:
        for message in messages:
            socket.send(message)
        try:
            while True:
                answers.append(json.loads(socket.recv(timeout=60)))
        except ConnectionClosedOK:
            pass
        code = socket.close_code
    return answers, code


def test_submit_batch_stream_over_websocket(server: EmbeddedServer, client: httpx.Client) -> None:
    items = [
        {"client_request_id": "a", "job": job(BELL, target="sim:stabilizer", shots=20)},
        {"client_request_id": "b", "job": job(BELL, shots=0)},
        {"client_request_id": "c", "job": job(BELL, target="sim:statevector", shots=30)},
        {"client_request_id": "d", "job": job(BELL, shots="many")},
    ]
    answers, code = batch_stream(server, [*(json.dumps(i) for i in items), "not json", '{"end": true}'])
    assert code == 1000
    by_item: dict[str, list[dict[str, Any]]] = {}
    for answer in answers:
        by_item.setdefault(answer["client_request_id"], []).append(answer)
    for ok, shots in (("a", 20), ("c", 30)):
        kinds = [a["kind"] for a in by_item[ok]]
        assert kinds == ["submitted", "completed"], by_item[ok]
        submitted, completed = by_item[ok]
        assert completed["job_id"] == submitted["job_id"]
        assert completed["results"] == client.get(f"/v1/jobs/{submitted['job_id']}/results").json()
        assert sum(completed["results"]["experiments"][0]["counts"].values()) == shots
    (refused,) = by_item["b"]
    assert refused["kind"] == "error" and refused["job_id"] == ""
    assert refused["error"]["reason"] == "EIGEN_INVALID_ARGUMENT"
    assert [v["field"] for v in refused["error"]["violations"]] == ["shots"]  # as POST /v1/jobs names it
    (malformed,) = by_item["d"]
    assert [v["field"] for v in malformed["error"]["violations"]] == ["job.shots"]
    (garbled,) = by_item[""]
    assert garbled["kind"] == "error" and "not valid JSON" in garbled["error"]["message"]


def test_batch_stream_ends_when_the_client_goes_away(server: EmbeddedServer) -> None:
    url = server.http_address.replace("http://", "ws://") + "/v1/jobs:batchStream"
    with ws_connect(url, open_timeout=10) as socket:
        socket.send(
            json.dumps({"client_request_id": "x", "job": job(BELL, target="sim:stabilizer", shots=8)})
        )
        assert json.loads(socket.recv(timeout=30))["kind"] == "submitted"
    deadline = time.monotonic() + 10  # gone without the end marker: the server stops watching
    while any(t.name == "eigen-ws-batch" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "eigen-ws-batch" for t in threading.enumerate())
