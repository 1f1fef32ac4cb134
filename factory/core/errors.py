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

    def __reduce__(self):
        """Picklable with its fix (Prefect stores a failed task's exception with the task's state)."""
        return _rebuild, (self.__class__, self.what, self.fix, dict(self.__dict__))


def _rebuild(cls: type[UserError], what: str, fix: str, state: dict) -> UserError:
    error = UserError.__new__(cls)
    UserError.__init__(error, what, fix)
    error.__dict__.update(state)
    return error
