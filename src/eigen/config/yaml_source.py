"""The YAML settings file: a flat mapping of setting keys to values.

Unknown keys are an error (with the nearest known key suggested), so a typo in a file
never silently falls back to a default.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from pydantic_settings.exceptions import SettingsError

# keys that name the file itself rather than what is in it
_NOT_IN_FILE = frozenset({"config_file"})


def read_settings_file(path: Path, known: set[str]) -> dict[str, Any]:
    """The settings in ``path``: a mapping of known keys (``None`` values are dropped)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"settings file {path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"settings file {path} must be a mapping of keys to values")
    unknown = sorted(str(key) for key in loaded if key not in known or key in _NOT_IN_FILE)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key.replace("-", "_"), sorted(known - _NOT_IN_FILE), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise SettingsError(f"settings file {path}: unknown key {', '.join(hints)}")
    return {str(key): value for key, value in loaded.items() if value is not None}


class YamlFileSource(PydanticBaseSettingsSource):
    """Settings source for the YAML file at ``path`` (none: contributes nothing)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self._values = read_settings_file(path, set(settings_cls.model_fields)) if path else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)
