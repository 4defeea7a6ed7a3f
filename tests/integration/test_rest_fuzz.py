"""Property-based fuzzing of the REST gateway from its OpenAPI document (schemathesis):
whatever the generated request, the live server never answers with a server error, and
every answer has a documented status, media type and body schema.

The document is built at import (schemathesis makes one test per operation at collection,
before any server runs) by the same ``create_app`` as the server's; a fixture checks that
the live ``/openapi.json`` is that document, and every case is sent to the live server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from eigen.system_api.ports import KernelPort
from eigen.system_api.rest import create_app
from eigen.system_api.service import JobApi
from tests.integration.rest_helpers import rest_server

pytestmark = pytest.mark.integration

DOCUMENT: dict[str, Any] = create_app(JobApi(cast(KernelPort, None))).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with rest_server(tmp_path_factory.mktemp("rest-fuzz")) as running:
        served = httpx.get(f"{running.http_address}/openapi.json", timeout=10).json()
        assert served == DOCUMENT, "the live server serves another OpenAPI document"
        yield running.http_address


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, live_url: str) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    case.call_and_validate(base_url=live_url, checks=checks, timeout=30)
