"""Two reads of one job the dashboard uses, against a real server: the program text
(``GET /v1/jobs/{job_id}/program``, bounded by ``max_bytes``) and the results as a
Parquet file written with pyarrow (``GET /v1/jobs/{job_id}/results?format=parquet``),
which reads back with pyarrow with the documented columns; with authentication on,
another tenant's job is 404 on both."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from eigen.server.embedded import EmbeddedServer
from tests.integration.dashboard_browser import ROOT
from tests.integration.helpers import BELL
from tests.integration.rest_helpers import job, problem, rest_server, submit
from tests.integration.secured import Secured, secured_server

pytestmark = pytest.mark.integration

COLUMNS = ["experiment", "kind", "key", "value", "text", "standard_error"]
EIGEN_LANG = (ROOT / "examples" / "eigen-lang-circuit" / "program.eigen.py").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with rest_server(tmp_path_factory.mktemp("program-parquet")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_address, timeout=60) as opened:
        yield opened


def done(client: httpx.Client, job_id: str, **kwargs: Any) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/results", params={"wait_seconds": 60}, **kwargs)
    assert response.status_code == 200, response.text
    results: dict[str, Any] = response.json()
    return results


def test_the_program_is_returned_as_submitted_and_cut_at_max_bytes(client: httpx.Client) -> None:
    accepted = submit(client, job(BELL, name="program-qasm"))
    body = client.get(f"/v1/jobs/{accepted['id']}/program").json()
    assert body == {
        "job_id": accepted["id"],
        "language": accepted["language"],
        "entrypoint": "main",
        "program_uri": "",
        "source": BELL,
        "size_bytes": len(BELL.encode()),
        "truncated": False,
    }
    cut = client.get(f"/v1/jobs/{accepted['id']}/program", params={"max_bytes": 10}).json()
    assert cut["source"] == BELL.encode()[:10].decode() and cut["truncated"] is True
    assert cut["size_bytes"] == len(BELL.encode())
    for wrong in ("0", "262145", "x"):
        answer = client.get(f"/v1/jobs/{accepted['id']}/program", params={"max_bytes": wrong})
        assert "max_bytes" in [
            v["field"] for v in problem(answer, 400, "EIGEN_INVALID_ARGUMENT")["violations"]
        ]
    problem(client.get("/v1/jobs/no-such-job/program"), 404, "EIGEN_NOT_FOUND")


def test_a_multibyte_program_is_cut_at_a_whole_character(client: httpx.Client) -> None:
    source = BELL.replace("qubit[2] q;", "// état de Bell: ψ\nqubit[2] q;")
    accepted = submit(client, job(source, name="program-utf8"))
    whole = client.get(f"/v1/jobs/{accepted['id']}/program").json()
    assert whole["source"] == source
    at = source.encode().index("ψ".encode()) + 1  # inside the two bytes of the psi
    cut = client.get(f"/v1/jobs/{accepted['id']}/program", params={"max_bytes": at}).json()
    assert cut["truncated"] is True and source.startswith(cut["source"]) and cut["source"].endswith(": ")


def test_a_resubmitted_jobs_program_is_the_stored_one(client: httpx.Client) -> None:
    first = submit(client, job(BELL, name="stored"))
    done(client, first["id"])
    again = client.post("/v1/jobs", json={"job": {"program": {"uri": f"qfs://{first['id']}"}, "shots": 10}})
    assert again.status_code == 201, again.text
    second = again.json()["job"]
    done(client, second["id"])
    body = client.get(f"/v1/jobs/{second['id']}/program").json()
    assert body["program_uri"] == f"qfs://{first['id']}" and body["source"] == BELL


def test_an_eigen_lang_program_names_its_language_and_entrypoint(client: httpx.Client) -> None:
    accepted = submit(client, {"program": {"source": EIGEN_LANG, "language": "EIGEN_LANG"}, "shots": 10})
    body = client.get(f"/v1/jobs/{accepted['id']}/program").json()
    assert body["language"] == "EIGEN_LANG" and body["entrypoint"] == "main" and body["source"] == EIGEN_LANG


def test_results_as_parquet_read_back_with_pyarrow(client: httpx.Client) -> None:
    accepted = submit(client, job(BELL, name="parquet", shots=500))
    results = done(client, accepted["id"])
    answer = client.get(f"/v1/jobs/{accepted['id']}/results", params={"format": "parquet"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.apache.parquet"
    assert f'filename="{accepted["id"]}-results.parquet"' in answer.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(answer.content))
    assert table.column_names == COLUMNS
    assert [str(t) for t in table.schema.types] == ["int64", "string", "string", "double", "string", "double"]
    rows = table.to_pylist()
    counts = {r["key"]: int(r["value"]) for r in rows if r["kind"] == "count"}
    assert counts == results["experiments"][0]["counts"] and sum(counts.values()) == 500
    assert all(r["experiment"] == 0 and math.isnan(r["standard_error"]) for r in rows if r["kind"] == "count")
    assert all(r["text"] == str(int(r["value"])) for r in rows if r["kind"] == "count")
    assert client.get(f"/v1/jobs/{accepted['id']}/results", params={"format": "json"}).json() == results
    problem(
        client.get(f"/v1/jobs/{accepted['id']}/results", params={"format": "xml"}),
        400,
        "EIGEN_INVALID_ARGUMENT",
    )


def test_a_hybrid_jobs_summary_and_expectation_values_in_parquet(client: httpx.Client) -> None:
    from tests.integration.test_dashboard import vqe_body

    accepted = submit(client, vqe_body("sim:statevector"))
    results = done(client, accepted["id"])
    table = pq.read_table(
        io.BytesIO(client.get(f"/v1/jobs/{accepted['id']}/results", params={"format": "parquet"}).content)
    )
    summary = {r["key"]: r for r in table.to_pylist() if r["kind"] == "summary"}
    assert summary["energy"]["value"] == pytest.approx(results["summary"]["energy"])
    assert summary["energy"]["experiment"] == -1
    assert summary["method"]["text"] == "COBYLA" and math.isnan(summary["method"]["value"])
    assert summary["converged"]["text"] == "true" and summary["converged"]["value"] == 1.0


def test_a_job_not_done_has_no_parquet_yet(client: httpx.Client, server: EmbeddedServer) -> None:
    from tests.integration.rest_helpers import held_job

    with held_job(client, server) as running:
        answer = client.get(f"/v1/jobs/{running['id']}/results", params={"format": "parquet"})
        problem(answer, 409, "EIGEN_FAILED_PRECONDITION")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("program-secured")) as running:
        running.add_key("a", tenant="alpha", role="submitter")
        running.add_key("b", tenant="beta", role="viewer")
        yield running


def test_another_tenants_program_and_parquet_are_not_found(secured: Secured) -> None:
    with httpx.Client(base_url=secured.server.http_address, timeout=60) as client:
        accepted = submit(client, job(BELL, name="alpha-only"), headers=secured.headers("a"))
        done(client, accepted["id"], headers=secured.headers("a"))
        mine = client.get(f"/v1/jobs/{accepted['id']}/program", headers=secured.headers("a"))
        assert mine.status_code == 200 and mine.json()["source"] == BELL
        parquet = client.get(
            f"/v1/jobs/{accepted['id']}/results", params={"format": "parquet"}, headers=secured.headers("a")
        )
        assert parquet.status_code == 200
        for path, params in (
            (f"/v1/jobs/{accepted['id']}/program", {}),
            (f"/v1/jobs/{accepted['id']}/results", {"format": "parquet"}),
        ):
            answer = client.get(path, params=params, headers=secured.headers("b"))
            problem(answer, 404, "EIGEN_NOT_FOUND")
        problem(client.get(f"/v1/jobs/{accepted['id']}/program"), 401, "EIGEN_UNAUTHENTICATED")
