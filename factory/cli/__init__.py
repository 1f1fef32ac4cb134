"""The ``factory`` command line (Typer + rich): the only place that prints.

One module per command group; this face assembles them into one app, in the order ``--help`` lists
them, and turns a :class:`UserError` anywhere into two lines — what went wrong, and the fix — and exit
code 2.
"""

from __future__ import annotations

import sys

import typer

from factory.cli import build, config, demo, deployments, engine, evaluate, images, mine, report, status
from factory.cli.common import console, effective_value
from factory.cli.memory import memory_app
from factory.cli.repair import repair_app
from factory.core.errors import UserError

app = typer.Typer(
    help="issue-factory: turn repository history into validated, containerized SWE-bench tasks.",
    epilog=(f"Here the store is {effective_value('db')} and the home {effective_value('home')}; "
            "`factory config` shows every setting and where its value comes from.").replace("[", "\\["),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(
    help="Base images (OS + Python toolchain) and a dataset's saved images, with or without a registry.",
    no_args_is_help=True,
)
for command in (mine.mine, build.build, status.status, status.export, report.report):
    app.command()(command)
app.command("eval")(evaluate.eval_)
app.command("eval-status")(evaluate.eval_status)
for command in (build.validate, build.pipeline, deployments.serve, deployments.deploy, demo.demo,
                engine.doctor, engine.clean, config.config):
    app.command()(command)
images_app.command("bootstrap")(engine.images_bootstrap)
images_app.command("ensure")(engine.images_ensure)
images_app.command("save")(images.images_save)
images_app.command("load")(images.images_load)
app.add_typer(images_app, name="images")
app.add_typer(memory_app, name="memory")
app.add_typer(repair_app, name="repair")


def main() -> None:
    try:
        app()
    except UserError as exc:
        from rich.markup import escape

        # escaped: a path or a TOML table name in brackets must not be read as rich markup
        console.print(f"[bold red]error:[/] {escape(exc.what)}")
        console.print(f"[bold]fix:[/] {escape(exc.fix)}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted: finished steps are stored; run the same command again to resume")
        sys.exit(130)


__all__ = ["app", "main"]
