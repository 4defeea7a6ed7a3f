"""Settings errors read like Eigen's errors: one line naming the setting and its variable,
exit code 2, in ``eigen-server`` and ``eigen-cli`` (real processes), never pydantic's text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eigen.config.errors import InvalidSetting
from eigen.config.loader import load_settings
from eigen.config.settings import Settings
from eigen.errors import InvalidArgument

PYDANTIC_WORDS = ("validation error for", "pydantic", "Input should be", "[type=", "Traceback")


def run(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")}
    environment.update(COLUMNS="80", EIGEN_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, *argv], env=environment, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def test_a_bad_variable_names_the_setting_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EIGEN_PORT", "abc")
    with pytest.raises(InvalidArgument) as caught:
        Settings()
    assert str(caught.value) == "setting port (EIGEN_PORT): must be a whole number, got 'abc'"
    assert [v.field for v in caught.value.violations] == ["port (EIGEN_PORT)"]


def test_every_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EIGEN_HTTP_PORT", "-1")
    monkeypatch.setenv("EIGEN_ROLE", "boss")
    with pytest.raises(InvalidSetting) as caught:
        load_settings()
    message = str(caught.value)
    assert "setting http_port (EIGEN_HTTP_PORT): must be at least 0, got '-1'" in message
    assert "setting role (EIGEN_ROLE): unknown role boss: all, or some of api, kernel" in message
    assert "\n" not in message
    assert not any(word in message for word in PYDANTIC_WORDS)


def test_a_settings_file_error_is_an_eigen_error_too(tmp_path: Path) -> None:
    config = tmp_path / "eigen.yaml"
    config.write_text("prot: 1\n")
    with pytest.raises(InvalidArgument, match=r"unknown key 'prot' \(did you mean 'port'\?\)"):
        load_settings(config)


def test_a_flag_value_is_named_as_well() -> None:
    with pytest.raises(InvalidSetting, match=r"setting port \(EIGEN_PORT\): must be at most 65535"):
        Settings(port=70000)


def test_eigen_server_serve_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    done = run(tmp_path, "-m", "eigen.server", "serve", EIGEN_PORT="abc")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["error: setting port (EIGEN_PORT): must be a whole number, got 'abc'"]


def test_eigen_cli_embedded_exits_2_naming_the_variable(tmp_path: Path) -> None:
    done = run(tmp_path, "-m", "eigen.cli", "backends", EIGEN_PORT="abc")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "setting port (EIGEN_PORT): must be a whole number, got 'abc'" in done.stderr
    assert not any(word in done.stdout + done.stderr for word in PYDANTIC_WORDS)
