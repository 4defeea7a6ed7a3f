"""docs/configuration.md documents every setting with its default, generated from the model."""

from __future__ import annotations

from pathlib import Path

from eigen.config.reference import BEGIN, END, settings_table, with_table
from eigen.config.settings import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_docs_table_matches_the_model() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert with_table(document) == document, (
        "docs/configuration.md is out of date: run "
        "`.venv/bin/python -m eigen.config.reference docs/configuration.md`"
    )


def test_every_setting_has_a_row_with_a_description() -> None:
    table = settings_table()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"| `{name}` |" in table
    assert "| `config_file` | `EIGEN_CONFIG` | unset |" in table
    assert "| `data_dir` | `EIGEN_DATA_DIR` | `~/.eigen` |" in table
    assert "| `database_auto_migrate` | `EIGEN_DATABASE_AUTO_MIGRATE` | `true` |" in table


def test_the_table_is_replaced_between_the_markers() -> None:
    stale = f"intro\n{BEGIN}\n| old |\n{END}\noutro\n"
    fresh = with_table(stale)
    assert fresh.startswith(f"intro\n{BEGIN}\n| key |") and fresh.endswith(f"\n{END}\noutro\n")
    assert "| old |" not in fresh and with_table(fresh) == fresh
