"""The example files in deploy/ parse, and the example settings use known keys only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eigen.config.settings import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
# Keys this work asks for (docs/observability.md#settings); once the settings model has
# them, the example below is also validated by it.
PROPOSED = {
    "otlp_endpoint",
    "log_format",
    "rate_limit_per_s",
    "rate_limit_burst",
    "compile_timeout_s",
    "shutdown_grace_s",
}


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_files_parse(path: Path) -> None:
    assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_example_settings_use_known_keys() -> None:
    example = yaml.safe_load((DEPLOY / "config" / "eigen.yaml").read_text())
    known = set(Settings.model_fields)
    assert set(example) <= known | PROPOSED, sorted(set(example) - known - PROPOSED)
    if known >= PROPOSED:
        settings = Settings.model_validate(example)
        assert settings.http_port == 8080
