"""Resolving a job id prefix, the part without gRPC: every client (:class:`Client`,
:class:`AsyncClient`, the CLI's folder client) validates the text, looks the prefix up
its own way (one ListJobs ``id_prefix`` call of :data:`PREFIX_PAGE_SIZE`) and picks the
one job it names here."""

from __future__ import annotations

from collections.abc import Sequence

#: How many jobs a prefix lookup asks for: the 10 an ambiguity lists, and one to say "more".
PREFIX_PAGE_SIZE = 11


def full_job_id(prefix: str) -> str | None:
    """The first half of resolving a job id prefix: a full-length id (the 32 hex digits the
    server assigns) as is, None for text to look up as the start of ids; InvalidArgument for
    text that cannot be a job id."""
    import re

    from eigen.errors import InvalidArgument, quote  # here: one method's needs
    from eigen.models.job import JOB_ID_PATTERN

    if len(prefix) == 32 and all(c in "0123456789abcdef" for c in prefix):
        return prefix
    if not prefix:
        raise InvalidArgument.for_field("job_id", "is required")
    if not re.fullmatch(JOB_ID_PATTERN, prefix):  # said here: the user typed a job id
        raise InvalidArgument.for_field(
            "job_id", f"{quote(prefix)} is not a job id or its start (1-64 of A-Z a-z 0-9 _ -)"
        )
    return None


def matching_job_id(prefix: str, ids: Sequence[str]) -> str:
    """The second half: the one id among ``ids`` (at most :data:`PREFIX_PAGE_SIZE` found)
    that ``prefix`` names, an exact match first; NotFound for none, InvalidArgument listing
    them for several."""
    from eigen.errors import InvalidArgument, NotFound, quote

    if prefix in ids or len(ids) == 1:
        return prefix if prefix in ids else ids[0]
    if not ids:
        raise NotFound(f"no job id starts with {quote(prefix)}")
    shown = []
    for job_id in ids[:10]:
        others = [other for other in ids if other != job_id]
        length = max(len(prefix) + 4, 8)
        while length < len(job_id) and any(other.startswith(job_id[:length]) for other in others):
            length += 1
        shown.append(job_id if length >= len(job_id) else f"{job_id[:length]}…")
    more = ", …" if len(ids) > 10 else ""
    raise InvalidArgument(f"ambiguous job id prefix {quote(prefix)}: {', '.join(shown)}{more}")
