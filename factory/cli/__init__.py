"""The ``factory`` command line: the only place that prints (``factory --help`` lists the commands)."""

from factory.cli.app import app, main

__all__ = ["app", "main"]
