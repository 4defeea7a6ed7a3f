"""Secrets never reach a log line: credentials in URLs, Authorization headers, passwords,
tokens and API keys are replaced by ``***``, by field name and by pattern in any text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# Field names whose values are secrets wherever they appear (any case, - or _).
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|pwd|secret|token|authorization|api[-_]?key|cookie|credential|private[-_]?key)",
    re.IGNORECASE,
)
# scheme://user:password@host -> scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"']*:)(?P<secret>[^@/\s\"']+)@")
# authorization: Bearer xyz / ("authorization", "Basic xyz") / authorization=xyz
_AUTH_HEADER = re.compile(
    r"(?P<head>\b(proxy-)?authorization[\"']?\s*[:=,]\s*[\"']?)(?P<scheme>(bearer|basic|token)\s+)?"
    r"(?P<secret>[^\s\"',;}\])]+)",
    re.IGNORECASE,
)
# password=xyz, "token": "xyz", api_key: xyz
_KEY_VALUE = re.compile(
    r"(?P<head>\b(pass(word|wd)?|pwd|secret|token|api[-_]?key)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<secret>[^\s\"',;&}\])]+)",
    re.IGNORECASE,
)


def secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    """``text`` with every credential it visibly carries masked."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['head']}{m['scheme'] or ''}{MASK}", text)
    return _KEY_VALUE.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A loggable copy of ``value``: strings scrubbed, mappings masked by key, recursively."""
    if depth > 6:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and secret_key(k) else redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], str) and secret_key(value[0]):
            return (value[0], MASK)  # a (key, value) metadata pair
        return type(value)(redact_value(v, depth + 1) for v in value)
    return value


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a log event, masked by name or scrubbed by pattern."""
    return {k: MASK if secret_key(k) else redact_value(v) for k, v in fields.items()}
