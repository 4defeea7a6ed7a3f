"""The one error tree of Eigen.

Every error a user can see is an :class:`EigenError` with a stable ``EIGEN_*`` reason.
One table (:data:`CODES`) maps each reason to its gRPC status name and HTTP status, so
the gRPC servicers, the REST gateway, the SDK and the CLI agree on what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

MESSAGE_LIMIT = 1000
"""The most UTF-8 bytes an error's message or a violation's description keeps. An error
travels in gRPC trailing metadata (the message percent-encoded, the details in base64),
which a client refuses past 8 KiB, so no input may make one larger."""

FIELD_LIMIT = 200
"""The most UTF-8 bytes a violation's field path or a metadata entry keeps."""

VIOLATIONS_BUDGET = 1500
"""The most UTF-8 bytes all field violations of an error keep together; the ones past it
are dropped and the message says how many."""


def quote(text: object, limit: int = 80) -> str:
    """``text`` as ``repr`` shows it, cut to about ``limit`` characters: what to put in an
    error or a log line when the text comes from a user, whose size nobody bounds.

    A cut text ends in an ellipsis and says its full length, e.g. ``'abc…' (5000 chars)``.
    Objects other than strings are quoted by their ``repr`` (an int too large to print
    says only its size)."""
    if isinstance(text, str):
        if len(text) <= limit:
            return repr(text)
        shown = repr(text[:limit])
        return f"{shown[:-1]}…{shown[-1]} ({len(text)} chars)"
    if isinstance(text, int) and not isinstance(text, bool) and text.bit_length() > 4 * limit:
        return f"<an integer of about {int(text.bit_length() * 0.30103) + 1} digits>"
    try:
        shown = repr(text)
    except Exception:  # a repr that fails (or an int past Python's digit limit)
        return f"<{type(text).__name__}>"
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… ({len(shown)} chars)"


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` unchanged when it fits in ``limit`` UTF-8 bytes, else its first characters
    that fit, an ellipsis and the full length (for texts already quoted or written for
    humans)."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    head = encoded[:limit].decode("utf-8", "ignore")
    return f"{head}… ({len(text)} chars)"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request: the dotted path of the field and what is wrong."""

    field: str
    description: str


@dataclass(frozen=True)
class CodeInfo:
    grpc: str  # name of a grpc.StatusCode member
    http: int
    retryable: bool


CODES: dict[str, CodeInfo] = {
    "EIGEN_INVALID_ARGUMENT": CodeInfo("INVALID_ARGUMENT", 400, False),
    "EIGEN_NOT_FOUND": CodeInfo("NOT_FOUND", 404, False),
    "EIGEN_FAILED_PRECONDITION": CodeInfo("FAILED_PRECONDITION", 409, False),
    "EIGEN_ALREADY_EXISTS": CodeInfo("ALREADY_EXISTS", 409, False),
    "EIGEN_RESOURCE_EXHAUSTED": CodeInfo("RESOURCE_EXHAUSTED", 429, True),
    "EIGEN_UNAUTHENTICATED": CodeInfo("UNAUTHENTICATED", 401, False),
    "EIGEN_PERMISSION_DENIED": CodeInfo("PERMISSION_DENIED", 403, False),
    "EIGEN_UNIMPLEMENTED": CodeInfo("UNIMPLEMENTED", 501, False),
    # REST only (an HTTP method the path does not serve): the gateway answers it, no
    # EigenError carries it, so it has no class of its own.
    "EIGEN_METHOD_NOT_ALLOWED": CodeInfo("UNIMPLEMENTED", 405, False),
    "EIGEN_UNAVAILABLE": CodeInfo("UNAVAILABLE", 503, True),
    "EIGEN_DEADLINE_EXCEEDED": CodeInfo("DEADLINE_EXCEEDED", 504, True),
    "EIGEN_CANCELLED": CodeInfo("CANCELLED", 499, False),
    "EIGEN_COMPILATION_FAILED": CodeInfo("INVALID_ARGUMENT", 422, False),
    "EIGEN_EXECUTION_FAILED": CodeInfo("INTERNAL", 500, False),
    "EIGEN_INTERNAL": CodeInfo("INTERNAL", 500, False),
}

DOMAIN = "eigen.dev"


@dataclass
class EigenError(Exception):
    """Base of every Eigen error. ``code`` is the stable ``EIGEN_*`` reason."""

    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    code: ClassVar[str] = "EIGEN_INTERNAL"

    def __post_init__(self) -> None:
        # Bounded at construction: whatever a message quotes, no error outgrows the gRPC
        # trailing metadata, a problem+json body or a log line.
        message = str(self.message)
        kept: list[FieldViolation] = []
        spent = 0
        for violation in self.violations:
            short = FieldViolation(
                bounded(str(violation.field), FIELD_LIMIT), bounded(str(violation.description))
            )
            spent += len(short.field.encode()) + len(short.description.encode())
            if kept and spent > VIOLATIONS_BUDGET:
                break
            kept.append(short)
        dropped = len(self.violations) - len(kept)
        more = f" (and {dropped} more violations)" if dropped else ""
        self.message = bounded(message, MESSAGE_LIMIT - len(more)) + more
        self.violations = kept
        self.metadata = {key: bounded(str(value), FIELD_LIMIT) for key, value in self.metadata.items()}
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def info(self) -> CodeInfo:
        return CODES[self.code]

    @property
    def retryable(self) -> bool:
        return self.info.retryable

    def within(self, prefix: str) -> EigenError:
        """The same error about an item of a list: fields and message gain ``prefix``."""
        violations = [FieldViolation(f"{prefix}.{v.field}", v.description) for v in self.violations]
        return type(self)(
            f"{prefix}: {self.message}",
            violations or [FieldViolation(prefix, self.message)],
            metadata=dict(self.metadata),
        )

    @classmethod
    def for_field(cls, field_path: str, description: str) -> EigenError:
        """An error about one field, with the field named in the message and the details."""
        return cls(f"{field_path}: {description}", [FieldViolation(field_path, description)])


class InvalidArgument(EigenError):
    code = "EIGEN_INVALID_ARGUMENT"


class NotFound(EigenError):
    code = "EIGEN_NOT_FOUND"


class FailedPrecondition(EigenError):
    code = "EIGEN_FAILED_PRECONDITION"


class AlreadyExists(EigenError):
    code = "EIGEN_ALREADY_EXISTS"


class ResourceExhausted(EigenError):
    code = "EIGEN_RESOURCE_EXHAUSTED"


class Unauthenticated(EigenError):
    """No credential where one is required, or one that does not verify (metadata
    ``method`` names the method tried, ``reason`` what failed; never the secret)."""

    code = "EIGEN_UNAUTHENTICATED"


class PermissionDenied(EigenError):
    """An authenticated principal that may not do this (metadata ``permission`` or
    ``backend`` names what was refused)."""

    code = "EIGEN_PERMISSION_DENIED"


class Unimplemented(EigenError):
    code = "EIGEN_UNIMPLEMENTED"


class Unavailable(EigenError):
    code = "EIGEN_UNAVAILABLE"


class DeadlineExceeded(EigenError):
    code = "EIGEN_DEADLINE_EXCEEDED"


class Cancelled(EigenError):
    code = "EIGEN_CANCELLED"


class CompilationFailed(EigenError):
    code = "EIGEN_COMPILATION_FAILED"


class ExecutionFailed(EigenError):
    code = "EIGEN_EXECUTION_FAILED"


class InternalError(EigenError):
    code = "EIGEN_INTERNAL"


ERROR_CLASSES: dict[str, type[EigenError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        AlreadyExists,
        ResourceExhausted,
        Unauthenticated,
        PermissionDenied,
        Unimplemented,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        CompilationFailed,
        ExecutionFailed,
        InternalError,
    )
}


def error_for(code: str, message: str, violations: list[FieldViolation] | None = None) -> EigenError:
    """Rebuild a typed error from its reason code (used where errors cross a wire)."""
    cls = ERROR_CLASSES.get(code, InternalError)
    return cls(message, list(violations or []))
