"""Errors as ``application/problem+json`` (RFC 9457) with the reasons gRPC uses.

:class:`EigenError` keeps its reason and the HTTP status of :data:`eigen.errors.CODES`;
a 401 carries ``WWW-Authenticate: Bearer``, a 429 ``Retry-After``;
FastAPI's request validation becomes EIGEN_INVALID_ARGUMENT (400) with violations named
like gRPC's (``job.shots``, ``jobs[1].program.source``); Starlette's HTTP errors (unknown
route, wrong method) keep their status. Unexpected exceptions are handled by the request
middleware (:mod:`.middleware`), which logs them and answers EIGEN_INTERNAL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from eigen.errors import CODES, DOMAIN, EigenError, FieldViolation, bounded, quote
from eigen.observability import context as call_context
from eigen.system_api.rest.schemas import Problem, Violation

PROBLEM_JSON = "application/problem+json"

# Every operation documents its errors as one "default" response of problem+json.
ERRORS: dict[int | str, dict[str, Any]] = {
    "default": {"model": Problem, "description": "An error, as application/problem+json"}
}

_REASON_BY_STATUS = {
    400: "EIGEN_INVALID_ARGUMENT",
    401: "EIGEN_UNAUTHENTICATED",
    403: "EIGEN_PERMISSION_DENIED",
    404: "EIGEN_NOT_FOUND",
    405: "EIGEN_METHOD_NOT_ALLOWED",
    409: "EIGEN_FAILED_PRECONDITION",
    413: "EIGEN_INVALID_ARGUMENT",  # too large: sending it again will not help
    429: "EIGEN_RESOURCE_EXHAUSTED",
    501: "EIGEN_UNIMPLEMENTED",
    503: "EIGEN_UNAVAILABLE",
    504: "EIGEN_DEADLINE_EXCEEDED",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        # ASCII escapes: a detail may quote user input that is not valid UTF-8 text.
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def problem_type(reason: str) -> str:
    return f"https://{DOMAIN}/problems/{reason}"


def title_of(reason: str) -> str:
    return reason.removeprefix("EIGEN_").replace("_", " ").capitalize()


def problem(
    reason: str,
    detail: str,
    *,
    status: int | None = None,
    violations: Iterable[FieldViolation] = (),
    request_id: str | None = None,
) -> Problem:
    info = CODES.get(reason, CODES["EIGEN_INTERNAL"])
    # An EigenError is bounded already; a detail from elsewhere (a framework) is cut here.
    bound = EigenError(detail, list(violations))
    return Problem(
        type=problem_type(reason),
        title=title_of(reason),
        status=status or info.http,
        detail=bound.message,
        reason=reason,
        retryable=info.retryable,
        request_id=request_id or call_context.current().request_id,
        violations=[Violation(field=v.field, description=v.description) for v in bound.violations],
    )


def problem_of(error: EigenError) -> Problem:
    return problem(error.code, error.message, violations=error.violations)


def problem_response(body: Problem, headers: dict[str, str] | None = None) -> Response:
    return ProblemResponse(body.model_dump(mode="json"), status_code=body.status, headers=headers)


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "jobs", 1, "shots")`` -> ``jobs[1].shots``; query, path and header
    parameters are named as they are sent."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def validation_violations(errors: Sequence[Any]) -> list[FieldViolation]:
    violations = []
    for error in errors:
        if error.get("type") == "json_invalid":
            position = [p for p in error.get("loc", ()) if isinstance(p, int)]
            where = f" (at character {position[0]})" if position else ""
            cause = (error.get("ctx") or {}).get("error")
            why = f": {bounded(str(cause), 200)}" if cause else ""
            violations.append(FieldViolation("body", f"is not valid JSON{where}{why}"))
            continue
        message = str(error.get("msg", "is invalid"))
        violations.append(FieldViolation(field_path(error.get("loc", ())), message))
    return violations


def retry_headers(error: EigenError) -> dict[str, str]:
    """``Retry-After`` (whole seconds) for an error that carries a retry hint."""
    hint = error.metadata.get("retry_after_s", "")
    try:
        seconds = float(hint)
    except ValueError:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))} if math.isfinite(seconds) else {}


WWW_AUTHENTICATE = 'Bearer realm="eigen"'
"""The challenge of a 401: a bearer credential (an API key or a JWT; ``x-api-key`` works too)."""


def auth_headers(error: EigenError) -> dict[str, str]:
    """The headers an error's answer carries: ``WWW-Authenticate`` for a 401 (RFC 9110
    requires one), ``Retry-After`` for an error with a retry hint (a rate limit)."""
    headers = retry_headers(error)
    if error.code == "EIGEN_UNAUTHENTICATED":
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return headers


async def eigen_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EigenError)
    return problem_response(problem_of(exc), headers=auth_headers(exc))


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    violations = validation_violations(exc.errors())
    detail = "; ".join(f"{v.field}: {v.description}" for v in violations[:5]) or "invalid request"
    return problem_response(problem("EIGEN_INVALID_ARGUMENT", detail, violations=violations))


def reason_of_status(status: int) -> str:
    """The EIGEN_* reason an HTTP error status stands for."""
    return _REASON_BY_STATUS.get(status, "EIGEN_INTERNAL" if status >= 500 else "EIGEN_INVALID_ARGUMENT")


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    reason = reason_of_status(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not served on {quote(request.url.path)}; allowed: {', '.join(allowed)}"
    body = problem(reason, detail, status=exc.status_code)
    return problem_response(body, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on the request's path. Starlette answers 405 from the
    first route whose path matches, so its ``Allow`` names that route's methods only (POST
    for ``/v1/jobs``, which GET serves too); here each method is tried on every route."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def install(app: FastAPI) -> None:
    app.add_exception_handler(EigenError, eigen_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
