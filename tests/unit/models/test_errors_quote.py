"""``eigen.errors.quote`` and the bounds every EigenError keeps on what it carries."""

from __future__ import annotations

from eigen.errors import (
    CODES,
    FIELD_LIMIT,
    MESSAGE_LIMIT,
    VIOLATIONS_BUDGET,
    FieldViolation,
    InvalidArgument,
    quote,
)


def test_quote_keeps_short_text_as_repr() -> None:
    assert quote("abc") == "'abc'"
    assert quote(12) == "12"
    assert quote(None) == "None"


def test_quote_cuts_long_text_and_says_its_length() -> None:
    quoted = quote("x" * 5000)
    assert quoted == "'" + "x" * 80 + "…' (5000 chars)"
    assert quote("y" * 50, limit=10) == "'" + "y" * 10 + "…' (50 chars)"


def test_quote_bounds_any_object_even_an_unprintable_integer() -> None:
    assert len(quote(list(range(10_000)))) < 120
    assert quote(10**5000) == "<an integer of about 5001 digits>"


def test_an_error_bounds_its_message_violations_and_metadata() -> None:
    error = InvalidArgument(
        "m" * 50_000,
        [FieldViolation("f" * 5000, "€" * 5000)] * 100,
        {"line": "1" * 5000},
    )
    assert len(error.message.encode()) <= MESSAGE_LIMIT + 40
    assert error.message.endswith("more violations)")
    assert str(error) == error.message
    assert 1 <= len(error.violations) < 100
    assert sum(len(v.field.encode()) + len(v.description.encode()) for v in error.violations) <= (
        VIOLATIONS_BUDGET + MESSAGE_LIMIT + FIELD_LIMIT + 80
    )
    assert all(len(v) <= FIELD_LIMIT + 40 for v in error.metadata.values())


def test_a_short_error_is_unchanged() -> None:
    error = InvalidArgument.for_field("shots", "must be positive")
    assert error.message == "shots: must be positive"
    assert error.violations == [FieldViolation("shots", "must be positive")]


def test_method_not_allowed_is_405_and_unimplemented_on_grpc() -> None:
    assert CODES["EIGEN_METHOD_NOT_ALLOWED"].http == 405
    assert CODES["EIGEN_METHOD_NOT_ALLOWED"].grpc == "UNIMPLEMENTED"
