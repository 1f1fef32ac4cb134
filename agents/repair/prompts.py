"""Render the repair agent's prompts (Jinja templates in ``prompts/``: the system message, one per stage,
and the short replies to an observation, a malformed reply or a repeated action)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

PROMPT_DIR = Path(__file__).parent / "prompts"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PROMPT_DIR), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render_prompt(name: str, **context: object) -> str:
    return _env().get_template(name).render(**context).strip() + "\n"
