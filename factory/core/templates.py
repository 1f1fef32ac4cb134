"""Render the Jinja templates in ``docker_templates/`` (Dockerfiles, eval and run scripts).

Strict undefined: a template that names a value the caller forgot fails loudly instead of writing an
empty string into a Dockerfile. Jinja comments are ``{## … ##}``: shell scripts need ``${#array[@]}``.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

import jinja2

import docker_templates

TEMPLATE_DIR = Path(docker_templates.__file__).parent


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        comment_start_string="{##",
        comment_end_string="##}",
    )
    env.filters["shquote"] = shlex.quote
    env.filters["shjoin"] = lambda items: " ".join(shlex.quote(str(i)) for i in items)
    return env


def render(name: str, **context: object) -> str:
    return _env().get_template(name).render(**context)
