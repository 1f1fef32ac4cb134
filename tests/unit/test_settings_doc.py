"""docs/settings.md is the settings model, written out: one row per setting with the model's own default,
environment variable and docstring — regenerate it with ``factory config --markdown > docs/settings.md``."""

from __future__ import annotations

from pathlib import Path

from factory.cli.config import reference
from factory.core.resolve import setting_fields

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_settings_doc_is_the_model() -> None:
    assert DOC.read_text(encoding="utf-8") == reference(), "run: factory config --markdown > docs/settings.md"


def test_every_setting_has_a_docstring() -> None:
    missing = [f.key for f in setting_fields() if not f.description]
    assert missing == [], f"settings without a docstring: {missing}"
