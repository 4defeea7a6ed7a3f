"""Settings errors as Eigen errors: one line naming the setting and its variable.

pydantic's own text (``1 validation error for Settings / port / Input should be a valid
integer, unable to parse string as an integer [type=int_parsing, ...] For further
information visit https://errors.pydantic.dev/...``) names a model the user never wrote
and spans four lines. :func:`invalid_settings` turns it into ``setting port (EIGEN_PORT):
must be a whole number, got 'abc'``: an :class:`~eigen.errors.InvalidArgument` (exit code
2 in both CLIs) with one violation per bad setting.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError

from eigen.errors import FieldViolation, InvalidArgument, quote

ENV_PREFIX = "EIGEN_"

_MESSAGES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "path_type": "must be a path",
    "string_type": "must be text",
}

_WORDS = (
    ("Input should be", "must be"),
    ("greater than or equal to", "at least"),
    ("less than or equal to", "at most"),
)


class InvalidSetting(InvalidArgument, SettingsError):
    """A setting (from the YAML file, ``.env``, an ``EIGEN_*`` variable or a flag) Eigen
    cannot use. Also a ``SettingsError`` (a ``ValueError``), what settings loaders raise."""


def env_name(field: str, aliases: dict[str, str] | None = None) -> str:
    """The environment variable of the setting ``field`` (``port``: ``EIGEN_PORT``)."""
    return (aliases or {}).get(field, f"{ENV_PREFIX}{field.upper()}")


def invalid_settings(
    exc: ValidationError | SettingsError, aliases: dict[str, str] | None = None
) -> InvalidSetting:
    """``exc`` (pydantic's or pydantic-settings') as one readable :class:`InvalidSetting`."""
    if isinstance(exc, SettingsError):
        text = " ".join(str(exc).split())  # one line, whatever the source said
        return InvalidSetting(text, [FieldViolation("settings", text)])
    violations = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        kind = error["type"]
        if kind in _MESSAGES:
            message = _MESSAGES[kind]
        elif kind == "literal_error":
            message = f"must be one of {(error.get('ctx') or {}).get('expected', '')}"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            for pydantic_words, ours in _WORDS:
                message = message.replace(pydantic_words, ours)
        if "input" in error and not isinstance(error["input"], dict):
            message += f", got {quote(error['input'])}"
        violations.append(FieldViolation(f"{field} ({env_name(field, aliases)})", message))
    summary = "; ".join(f"setting {v.field}: {v.description}" for v in violations)
    return InvalidSetting(summary, violations)
