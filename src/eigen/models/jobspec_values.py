"""Reading the values of a JobSpec document: numbers written as numbers or text, JSON to
keep, and lenient looks into maps that may not be maps (on a document not yet validated).

Functions that can find a problem report it through ``fail(path, message)`` and go on,
so a document with several mistakes hears of all of them at once.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping
from typing import Any

from eigen.errors import quote
from eigen.models.workload import WORKLOAD_KINDS, WorkloadKind

Fail = Callable[[str, str], None]


def json_value(fail: Fail, path: str, value: Any) -> Any:
    """``value`` as JSON: YAML dates become ISO text; what JSON cannot hold is a violation."""
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                fail(f"{path}.{key}", "keys must be strings (quote it)")
                continue
            result[key] = json_value(fail, f"{path}.{key}", item)
        return result
    if isinstance(value, (list, tuple)):
        return [json_value(fail, f"{path}[{index}]", item) for index, item in enumerate(value)]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        fail(path, f"must be a finite number, got {quote(value)}")
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    fail(path, f"must be a JSON value (text, number, boolean, list or map), got {type(value).__name__}")
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def workload_kind(value: Any) -> WorkloadKind | None:
    return WorkloadKind(value) if isinstance(value, str) and value in WORKLOAD_KINDS else None


def lenient_int(value: Any) -> Any:
    """A whole number written as a number or as text, as an int; other values as given
    (None stays None; the schema reports values of the wrong type)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        try:
            return int(value)
        except ValueError:  # more digits than Python converts
            return value
    return value


def whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (written as a number or text)."""
    read = lenient_int(value)
    return read if isinstance(read, int) and not isinstance(read, bool) else None


def number(
    fail: Fail, path: str, raw: Any, kind: type, low: float, high: float, low_open: bool
) -> int | float | None:
    """``raw`` (a YAML scalar) as an int or a float within [low, high], or a violation.
    YAML reads ``.inf`` and ``.nan`` as floats: they are refused here by field name."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        fail(path, f"must be a number, got {quote(raw)}")
        return None
    value: int | float
    if isinstance(raw, str):
        try:
            value = int(raw) if raw.strip().lstrip("+-").isdigit() else float(raw)
        except ValueError:  # not a number, or more digits than Python converts
            fail(path, f"must be a number, got {quote(raw)}")
            return None
    else:
        value = raw
    if isinstance(value, float) and not math.isfinite(value):
        fail(path, f"must be a finite number, got {quote(raw)}")
        return None
    if kind is int and isinstance(value, float) and not value.is_integer():
        fail(path, f"must be a whole number, got {quote(raw)}")
        return None
    if value < low or (low_open and value == low) or value > high:
        lowest = f"greater than {shown(low)}" if low_open else f"at least {shown(low)}"
        fail(path, f"must be {lowest} and at most {shown(high)}, got {quote(raw)}")
        return None
    return kind(value)  # type: ignore[no-any-return]


def shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
