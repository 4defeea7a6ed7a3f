"""``eigen-server config show``: the effective settings, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from eigen.config import Settings, load_settings
from eigen.config.show import mask_url, render_settings
from eigen.server.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://eigen:s3cret@db:5432/eigen", "postgresql+psycopg://eigen:***@db:5432/eigen"),
        (
            "postgresql+psycopg://eigen@db/eigen?password=s3cret&sslmode=require",
            "postgresql+psycopg://eigen@db/eigen?password=***&sslmode=require",
        ),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("sqlite:////var/lib/eigen/eigen.db", "sqlite:////var/lib/eigen/eigen.db"),
        ("postgresql+psycopg://eigen@db/eigen", "postgresql+psycopg://eigen@db/eigen"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_secrets_never_show(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EIGEN_DATABASE_PASSWORD", "pw-from-env")
    settings = Settings(database_url="postgresql+psycopg://eigen:pw-in-url@db/eigen")
    text = render_settings(settings)
    assert "pw-from-env" not in text and "pw-in-url" not in text
    shown = yaml.safe_load(text)
    assert shown["database_url"] == "postgresql+psycopg://eigen:***@db/eigen"
    assert shown["database_password"] == "***"


def test_the_output_is_a_settings_file(clean_env: Path) -> None:
    settings = Settings(port=7001, data_dir=clean_env / "d", result_retention_days=14, http_port=8080)
    config = clean_env / "shown.yaml"
    config.write_text(render_settings(settings), encoding="utf-8")
    assert load_settings(config).model_dump(exclude={"config_file"}) == settings.model_dump(
        exclude={"config_file"}
    )


def test_config_show_prints_the_effective_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = clean_env / "eigen.yaml"
    config.write_text(
        "port: 7002\nhost: 0.0.0.0\ndatabase_url: postgresql+psycopg://eigen:topsecret@db/eigen\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("EIGEN_HOST", "10.1.1.1")
    done = runner.invoke(app, ["config", "show", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "topsecret" not in done.output
    shown = yaml.safe_load(done.output)
    assert shown["port"] == 7002 and shown["host"] == "10.1.1.1"
    assert shown["database_url"] == "postgresql+psycopg://eigen:***@db/eigen"
    assert done.output.startswith(f"# settings file: {config}")


def test_config_show_reports_a_bad_file(clean_env: Path) -> None:
    config = clean_env / "eigen.yaml"
    config.write_text("portt: 1\n", encoding="utf-8")
    done = runner.invoke(app, ["config", "show", "--config", str(config)])
    assert done.exit_code == 2 and "unknown key 'portt'" in done.output
