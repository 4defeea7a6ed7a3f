"""The OpenAPI document: FastAPI's, with errors as problem+json and no 422 (validation
errors are 400 problems here)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from eigen.system_api.rest.problems import PROBLEM_JSON
from eigen.system_api.rest.schemas import JobEvent, Problem, ResultChunk

DESCRIPTION = """\
The REST/JSON gateway of Eigen: every RPC of `eigen.api.v1` (JobService, BackendService) over
the same service layer as gRPC, with the messages' field names; enums are strings
(`"DONE"`), timestamps RFC 3339.

Errors are `application/problem+json` with the gRPC reasons: `reason` (`EIGEN_*`),
`retryable`, `request_id` and `violations` (`[{field, description}]`, fields named as in
gRPC, e.g. `job.shots`, `jobs[1].program.source`).

Headers: `x-request-id` (echoed, or generated, on every response), `x-eigen-caller` (the
caller, the job's owner, while authentication is off), `traceparent` (W3C trace context).

Authentication (a server with `auth_required`; docs/security.md): every `/v1` route,
the event streams and the WebSocket included, takes `Authorization: Bearer <API key or
JWT>` or `x-api-key: <API key>` (or a client certificate over mutual TLS);
`x-eigen-caller` is then ignored. Without a valid credential: 401 `EIGEN_UNAUTHENTICATED`
with `WWW-Authenticate: Bearer`; a role or policy that does not allow the operation: 403
`EIGEN_PERMISSION_DENIED`; a rate or quota: 429 `EIGEN_RESOURCE_EXHAUSTED` (with
`Retry-After` for a rate). Another tenant's job is 404 `EIGEN_NOT_FOUND`, as an unknown
one. Health, metrics and these documents need no credential.

SubmitBatchStream (bidirectional streaming) is a WebSocket at `/v1/jobs:batchStream`
(OpenAPI cannot describe it): send `{"client_request_id", "job"}` per item, then
`{"end": true}`; each item is answered `submitted`, then `completed` (with its results) or
`error`, and the server closes the socket once every job is terminal.
"""


SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key (`eig_...`, from `eigen-server keys create`) or a JWT",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "an API key"},
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {}]
"""Either credential; or none, on a server without ``auth_required``."""


def document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # Models only streams name (NDJSON chunks, server-sent events) join the components.
    for model in (ResultChunk, JobEvent, Problem):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        for name, definition in found.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault(model.__name__, found)
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    for name, path in schema.get("paths", {}).items():
        for operation in path.values():
            if name.startswith("/v1/"):
                operation["security"] = SECURITY
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for code, response in responses.items():
                content = response.get("content", {})
                if (code == "default" or code[0] in "45") and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
