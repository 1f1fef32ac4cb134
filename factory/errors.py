"""Errors a user can cause, carrying the one-line message and the fix the CLI prints."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a missing prerequisite: the CLI prints ``error: <what>`` and ``fix: <how>``, exit 2."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what = what
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.what} — {self.fix}"
