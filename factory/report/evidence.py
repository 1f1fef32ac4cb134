"""What an instance page shows as evidence: the decisive run, its log excerpt, per-test outcomes, diffs.

Why apart: choosing *which* run explains a verdict and *which* lines of its log matter is the judgement of
the report, and pure logic a unit test can pin down; the page writer only lays it out. Nothing here
escapes HTML: everything is returned as plain text and the autoescaping templates escape it once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

EXCERPT_LINES = 60
EXCERPT_CHARS = 8000
READ_TAIL = 512 * 1024
MAX_DIFF_LINES = 4000
MAX_TEST_ROWS = 600

_SUMMARY = re.compile(r"^=+ short test summary info =+$", re.MULTILINE)
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):$", re.MULTILINE)
_FAILURES = re.compile(r"^=+ (FAILURES|ERRORS) =+$", re.MULTILINE)


def decisive_run(status: str, reason: str, runs: list[dict]) -> dict | None:
    """The run that best explains the verdict.

    An infrastructure error: the run that met it. A patch that did not apply: that run. Flaky: the first run
    whose per-test outcomes differ from its phase's first run. Otherwise the first run that did not do what a
    fail-to-pass instance needs (before must fail, after must pass); for a valid instance, the failing
    before-run that the gold patch turns green.
    """
    if not runs:
        return None
    before = [r for r in runs if r["phase"] == "before"]
    after = [r for r in runs if r["phase"] == "after"]
    if status == "error":
        hit = next((r for r in runs if r.get("infra_error") or r.get("timed_out")), None)
        if hit:
            return hit
    if reason in ("test_patch_failed", "gold_patch_failed"):
        hit = next((r for r in runs if r.get("patch_error")), None)
        if hit:
            return hit
    if reason == "flaky":
        for phase in (before, after):
            hit = next((r for r in phase[1:] if r.get("tests") != phase[0].get("tests")), None)
            if hit:
                return hit
    if status == "valid" or reason in ("error2pass", "pass2pass"):
        return (before or after)[0]
    hit = next((r for r in before if r.get("verdict") != "fail"), None) or next(
        (r for r in after if r.get("verdict") != "pass"), None)
    return hit or (before or after)[0]


def read_tail(path: str | Path, limit: int = READ_TAIL) -> str | None:
    """The last ``limit`` bytes of a log as text (None when the file is not on this machine)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read()
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return text if size <= limit else text.split("\n", 1)[-1]


def excerpt(text: str) -> str:
    """The lines of a test log that decide it: pytest's short summary, else its failures section, else the
    last traceback, else the tail — at most :data:`EXCERPT_LINES` lines and :data:`EXCERPT_CHARS` characters."""
    start = 0
    for pattern in (_SUMMARY, _FAILURES, _TRACEBACK):
        found = list(pattern.finditer(text))
        if found:
            start = found[-1].start() if pattern is not _FAILURES else found[0].start()
            break
    lines = text[start:].splitlines() if start else text.splitlines()[-EXCERPT_LINES:]
    if len(lines) > EXCERPT_LINES:
        lines = lines[:EXCERPT_LINES // 2] + ["…"] + lines[-EXCERPT_LINES // 2:]
    out = "\n".join(lines)
    return out if len(out) <= EXCERPT_CHARS else "…" + out[-EXCERPT_CHARS:]


@dataclass
class DiffLine:
    kind: str
    """``file`` | ``hunk`` | ``add`` | ``del`` | ``ctx`` | ``note``."""
    text: str


def diff_lines(patch: str, limit: int = MAX_DIFF_LINES) -> list[DiffLine]:
    """A unified diff as classified lines (the template colours them); cut at ``limit`` lines with a note."""
    lines = patch.splitlines()
    out = []
    for line in lines[:limit]:
        if line.startswith(("diff --git", "+++ ", "--- ", "index ", "new file mode", "deleted file mode")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append(DiffLine(kind, line))
    if len(lines) > limit:
        out.append(DiffLine("note", f"… {len(lines) - limit} more lines not shown"))
    return out


@dataclass
class OutcomeTable:
    runs: list[str]
    """Column heads: ``before #0``, ``after #1`` …"""
    rows: list[tuple[str, str, list[str]]]
    """(test id, ``F2P`` | ``P2P`` | ``flaky`` | ``unstable`` | '', outcome per run)."""
    hidden: int = 0


def outcome_table(runs: list[dict], f2p: list[str], p2p: list[str], flaky: list[str], unstable: list[str],
               limit: int = MAX_TEST_ROWS) -> OutcomeTable:
    """Per-test outcomes in every run, FAIL_TO_PASS first, then flaky, PASS_TO_PASS and the rest."""
    role = {**{t: "unstable" for t in unstable}, **{t: "P2P" for t in p2p}, **{t: "flaky" for t in flaky},
            **{t: "F2P" for t in f2p}}
    seen = {t for r in runs for t in r.get("tests", {})} | set(role)
    order = {"F2P": 0, "flaky": 1, "P2P": 2, "unstable": 3, "": 4}
    ids = sorted(seen, key=lambda t: (order[role.get(t, "")], t))
    rows = [(t, role.get(t, ""), [r.get("tests", {}).get(t, "") for r in runs]) for t in ids[:limit]]
    return OutcomeTable([f"{r['phase']} #{r['run_index']}" for r in runs], rows, max(0, len(ids) - limit))
