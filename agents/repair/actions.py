"""The repair agent's text actions: what a model may do in one turn, parsed from plain text.

Why text and not native tool calls: text works on every OpenAI-compatible server, small local models
included. One action per turn, in a fenced block whose info string names it:

- ``bash`` — run a shell command in the work tree (``sh`` / ``shell`` are accepted too);
- ``write PATH`` — write the whole file ``PATH`` (the reproduction script, say);
- ``edit PATH`` — one or more search/replace blocks (``<<<<<<< SEARCH`` … ``=======`` … ``>>>>>>> REPLACE``),
  each SEARCH text found exactly once;
- ``done`` — end the stage; its body is the stage's answer (a reply whose first line is a bare ``done``
  counts too).

Small models misbehave in known ways (seen when one drove our builder): two actions in one reply, or the
same action again and again. The parser takes the **first** well-formed action and says that the rest was
ignored; :class:`RepeatGuard` notices an action identical to the previous one, and the stage loop tells the
model so, or ends the stage with a recorded reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BLOCK = re.compile(r"^```([A-Za-z]+)(?:[ \t]+([^\n`]*))?[ \t]*\n(.*?)^```", re.S | re.M)
"""A fence opens at the start of a line with a bare word (``bash``, ``write PATH``): text that merely mentions
"```bash, ```write PATH" inside a sentence — a model echoing our own hint — is no action."""
_BARE_DONE = re.compile(r"\A\s*done[ \t]*\n?(.*)\Z", re.S | re.I)
_EDIT = re.compile(r"<<<<<<< SEARCH\n(.*?)\n?=======\n(.*?)\n?>>>>>>> REPLACE", re.S)
KINDS = {"bash": "bash", "sh": "bash", "shell": "bash", "write": "write", "edit": "edit", "done": "done"}


class MalformedAction(ValueError):
    """The reply holds no action the agent can carry out; the message says what is wrong."""


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str


@dataclass(frozen=True)
class Action:
    """One parsed action."""

    kind: str
    """``bash`` | ``write`` | ``edit`` | ``done``."""
    body: str = ""
    """The command, the file content, or the stage's answer."""
    path: str = ""
    """``write`` / ``edit``: the file."""
    edits: tuple[Edit, ...] = ()
    ignored: int = 0
    """How many further action blocks the reply held (not run)."""

    @property
    def signature(self) -> tuple:
        return self.kind, self.path, self.body, self.edits


def parse_action(reply: str) -> Action:
    """The first well-formed action of ``reply`` (MalformedAction when there is none)."""
    bare = _BARE_DONE.match(reply)
    if bare and not reply.lstrip().startswith("```"):  # "done" on the first line, unfenced: a stage answer
        return Action("done", bare.group(1).strip())
    found: list[Action] = []
    problems: list[str] = []
    for match in _BLOCK.finditer(reply):
        kind = KINDS.get(match.group(1).lower())
        if kind is None:
            continue
        try:
            found.append(_action(kind, (match.group(2) or "").strip(), match.group(3)))
        except MalformedAction as exc:
            problems.append(str(exc))
    if not found:
        if problems:
            raise MalformedAction(problems[0])
        raise MalformedAction("no action block: reply with exactly one fenced block, e.g. ```bash\\nls\\n```")
    first = found[0]
    return Action(first.kind, first.body, first.path, first.edits, ignored=len(found) - 1)


def _action(kind: str, argument: str, body: str) -> Action:
    if kind == "bash":
        command = body.strip()
        if not command:
            raise MalformedAction("the bash block is empty")
        first, _, rest = command.partition("\n")
        if first.strip().lower() == "done":  # an answer in the wrong fence: no shell runs "done"
            return Action("done", rest.strip())
        return Action("bash", command)
    if kind == "done":
        return Action("done", body.strip())
    if not argument:
        raise MalformedAction(f"a {kind} block names its file after the word {kind}: ```{kind} path/to/file.py")
    if kind == "write":
        if not body.strip():
            raise MalformedAction(f"the write block for {argument} is empty: give the file's whole content")
        return Action("write", body, path=argument)
    edits = tuple(Edit(s, r) for s, r in _EDIT.findall(body))
    if not edits:
        raise MalformedAction("an edit block holds <<<<<<< SEARCH / ======= / >>>>>>> REPLACE sections")
    return Action("edit", "", path=argument, edits=edits)


def apply_edits(text: str, edits: tuple[Edit, ...]) -> str:
    """``text`` with each edit made; MalformedAction when a SEARCH text is absent or not unique (nothing is
    changed then, so a half-applied edit never reaches the work tree)."""
    for n, edit in enumerate(edits, start=1):
        count = text.count(edit.search) if edit.search else 0
        if count != 1:
            where = "not found" if count == 0 else f"found {count} times"
            raise MalformedAction(f"edit {n}: the SEARCH text is {where}; copy it exactly from the file, with "
                                  "enough lines to be unique")
        text = text.replace(edit.search, edit.replace, 1)
    return text


@dataclass
class RepeatGuard:
    """Counts how often the model sent the same action in a row."""

    limit: int = 3
    """Identical actions in a row after which the stage ends."""
    _last: tuple | None = None
    repeats: int = field(default=0)

    def seen(self, action: Action) -> int:
        """How many times in a row ``action`` has now been sent (1: it is new)."""
        self.repeats = self.repeats + 1 if action.signature == self._last else 1
        self._last = action.signature
        return self.repeats

    @property
    def exhausted(self) -> bool:
        return self.repeats >= self.limit
