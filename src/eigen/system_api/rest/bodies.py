"""Reading JSON request bodies within bounds, so odd JSON is a 400 naming its field.

The standard library's parser accepts integers of any length (and then fails to convert
one past 4,300 digits with a ValueError) and recurses once per nesting level (a body of
100,000 brackets ends in RecursionError); FastAPI turns both into a 400 that names no
field. Here an integer of more than :data:`MAX_INT_DIGITS` digits is read as an infinite
number, which every field refuses by name (``job.shots: Input should be a finite
number``), and a body nested deeper than :data:`MAX_DEPTH` levels is invalid JSON of the
``body``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

MAX_DEPTH = 32
"""The deepest nesting of arrays and objects a body may have (a batch needs 7 levels)."""

MAX_INT_DIGITS = 64
"""Longer integers are read as infinite: no field of the API holds one (int64 has 19)."""


def _parse_int(text: str) -> int | float:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return float("-inf") if text.startswith("-") else float("inf")
    return int(text)


def loads_bounded(data: str | bytes) -> Any:
    """``json.loads`` of ``data`` with the bounds above; a JSONDecodeError (as for any
    malformed JSON) when it nests too deep."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        value = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise json.JSONDecodeError(f"nests deeper than {MAX_DEPTH} levels", "", 0) from None
    if _depth(value) > MAX_DEPTH:
        raise json.JSONDecodeError(f"nests deeper than {MAX_DEPTH} levels", "", 0)
    return value


def _depth(value: Any) -> int:
    """The nesting depth of parsed JSON, walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


class BoundedJsonRequest(Request):
    """A request whose ``json()`` is :func:`loads_bounded` (what FastAPI reads bodies with)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_bounded(await self.body())
        return self._json


class BoundedJsonRoute(APIRoute):
    """An APIRoute that reads its body as :class:`BoundedJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded
