"""Loading settings: defaults < YAML file < .env < EIGEN_* variables < flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic_settings.exceptions import SettingsError

from eigen.config import Settings, load_settings
from eigen.config.settings import default_data_dir


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_settings_with_no_arguments_are_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = Settings()
    assert plain.port == 50051 and plain.data_dir == default_data_dir() and plain.config_file is None
    assert plain.result_retention_days is None and plain.database_auto_migrate is True
    monkeypatch.setenv("EIGEN_PORT", "6001")
    monkeypatch.setenv("EIGEN_RESULT_RETENTION_DAYS", "30")
    assert Settings().port == 6001 and Settings().result_retention_days == 30


def test_settings_with_no_arguments_ignore_a_dotenv_file(clean_env: Path) -> None:
    write(clean_env / ".env", "EIGEN_PORT=6002\n")
    assert Settings().port == 50051
    assert load_settings().port == 6002


def test_each_source_overrides_the_one_before(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        clean_env / "eigen.yaml",
        "port: 1001\nhost: 0.0.0.0\ngrpc_workers: 8\nqueue_capacity: 7\nexecute_workers: 3\n",
    )
    write(clean_env / ".env", "EIGEN_HOST=10.0.0.1\nEIGEN_GRPC_WORKERS=16\nEIGEN_QUEUE_CAPACITY=70\n")
    monkeypatch.setenv("EIGEN_GRPC_WORKERS", "32")
    monkeypatch.setenv("EIGEN_QUEUE_CAPACITY", "700")

    loaded = load_settings(config, {"queue_capacity": 7000, "port": None})

    assert loaded.execute_workers == 3  # YAML over the default
    assert loaded.port == 1001  # a flag left out (None) does not hide the YAML value
    assert loaded.host == "10.0.0.1"  # .env over YAML
    assert loaded.grpc_workers == 32  # EIGEN_* over .env
    assert loaded.queue_capacity == 7000  # flags over everything
    assert loaded.config_file == config


def test_eigen_config_names_the_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(clean_env / "from-env.yaml", "port: 1002\n")
    monkeypatch.setenv("EIGEN_CONFIG", str(config))
    assert Settings().port == 1002 and Settings().config_file == config
    flagged = write(clean_env / "from-flag.yaml", "port: 1003\n")
    assert load_settings(flagged).port == 1003


def test_eigen_config_in_dotenv_names_the_file(clean_env: Path) -> None:
    write(clean_env / "eigen.yaml", "port: 1004\n")
    write(clean_env / ".env", "EIGEN_CONFIG=eigen.yaml\n")
    assert load_settings().port == 1004


def test_an_unrelated_config_file_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIG_FILE", "/nonexistent.yaml")
    assert Settings().config_file is None


def test_eigen_config_file_is_a_synonym(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EIGEN_CONFIG_FILE", str(write(clean_env / "a.yaml", "port: 1005\n")))
    assert Settings().port == 1005
    monkeypatch.setenv("EIGEN_CONFIG", str(write(clean_env / "b.yaml", "port: 1006\n")))
    assert Settings().port == 1006 and Settings().config_file == clean_env / "b.yaml"


def test_unknown_keys_in_the_file_are_errors(clean_env: Path) -> None:
    config = write(clean_env / "eigen.yaml", "prot: 1\n")
    with pytest.raises(SettingsError, match=r"unknown key 'prot' \(did you mean 'port'\?\)"):
        load_settings(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [1\n", "not valid YAML"),
        ("- port\n", "must be a mapping"),
        ("config_file: other.yaml\n", "unknown key 'config_file'"),
    ],
)
def test_malformed_files_are_errors(clean_env: Path, text: str, message: str) -> None:
    config = write(clean_env / "eigen.yaml", text)
    with pytest.raises(SettingsError, match=message):
        load_settings(config)


def test_a_missing_file_is_an_error(clean_env: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(clean_env / "absent.yaml")


def test_an_empty_file_and_null_values_mean_defaults(clean_env: Path) -> None:
    assert load_settings(write(clean_env / "empty.yaml", "")).port == 50051
    assert load_settings(write(clean_env / "nulls.yaml", "port: null\n")).port == 50051


def test_values_are_validated_whatever_their_source(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="port"):
        load_settings(write(clean_env / "eigen.yaml", "port: 70000\n"))
    monkeypatch.setenv("EIGEN_RESULT_RETENTION_DAYS", "-1")
    with pytest.raises(ValueError, match="result_retention_days"):
        load_settings()


def test_store_url_defaults_to_sqlite_in_the_data_dir(clean_env: Path) -> None:
    settings = Settings(data_dir=clean_env / "d")
    assert settings.store_url == f"sqlite:///{clean_env / 'd' / 'eigen.db'}"


def test_database_password_completes_a_url_without_one() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://eigen@db:5432/eigen", database_password=SecretStr("p@ss:w/rd")
    )
    assert settings.store_url == "postgresql+psycopg://eigen:p%40ss%3Aw%2Frd@db:5432/eigen"
    assert "p@ss" not in repr(settings)
    given = Settings(database_url="postgresql+psycopg://eigen:own@db/eigen", database_password=SecretStr("x"))
    assert given.store_url == "postgresql+psycopg://eigen:own@db/eigen"
    assert Settings(database_url="sqlite:///x.db").store_url == "sqlite:///x.db"
