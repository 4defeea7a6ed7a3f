"""How entry points load settings: defaults < YAML file < .env < EIGEN_* < flags."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eigen.config.settings import Settings

DEFAULT_ENV_FILE = Path(".env")


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    env_file: Path | None = DEFAULT_ENV_FILE,
) -> Settings:
    """The effective settings of a command.

    ``config_file`` is the ``--config`` flag (else ``EIGEN_CONFIG`` names the file);
    ``flags`` are the command's flags, where None means "not given"; ``env_file`` is read
    when it exists (relative paths from the working directory). Raises ValueError (a
    pydantic ValidationError or SettingsError) with a readable message on bad input.
    """
    values: dict[str, Any] = {key: value for key, value in (flags or {}).items() if value is not None}
    if config_file is not None:
        values["config_file"] = config_file
    # pydantic-settings' own init argument (not a field): which .env file to read, if any
    values["_env_file"] = env_file if env_file is not None and env_file.is_file() else None
    return Settings(**values)
