"""Recovery fault scenarios, through the real ``factory`` CLI: one candidate that breaks our code must not
block the others, and verdicts an older factory reached can be re-opened without rebuilding everything.

One repository, ``acme/mend``, with two ordinary fixes. The first candidate's base_commit is then made
one its mirror does not hold (a git error inside the build, as a bug or a rewritten history would cause):
it must end ``error(internal)`` with its traceback on disk while the second still comes out ``valid`` in
the same run. The second is then stored as an older factory would have judged it, ``rejected(no_tests_ran)``:
a plain ``factory build`` leaves that rejection alone, ``--retry-rejected no_tests_ran`` re-opens and
rebuilds it (and nothing else), and a reason that is none stops with the allowed ones, changing nothing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import duckdb

from factory.store import Store
from tests.faults import FaultRow, rows_lost, snapshot, statuses
from tests.repo_fixtures import new_repo, pyproject

MISSING_COMMIT = "0123456789abcdef" * 2 + "01234567"


def make_mend_repo(root: Path) -> Path:
    g = new_repo(root, "acme/mend")
    g.commit("Initial import", {
        "pyproject.toml": pyproject("mend"),
        "src/mend/__init__.py": "def one():\n    return 1\n",
        "tests/test_one.py": "from mend import one\n\n\ndef test_one():\n    assert one() == 1\n",
    })
    g.commit("Add double\n\nFixes #1: mend has no double().", {
        "src/mend/__init__.py": "def one():\n    return 1\n\n\ndef double(x):\n    return 2 * x\n",
        "tests/test_double.py": "from mend import double\n\n\ndef test_double():\n    assert double(3) == 6\n",
    })
    g.commit("Add triple\n\nFixes #2: mend has no triple().", {
        "src/mend/triple.py": "def triple(x):\n    return 3 * x\n",
        "tests/test_triple.py": "from mend.triple import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n",
    })
    return root


def _cli(cmd: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=1500)


def _check(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _sql(db: Path, statement: str, args: list) -> None:
    """Change a stored row the way a fault (or an older factory's verdict) left it."""
    con = duckdb.connect(str(db))
    try:
        con.execute(statement, args)
    finally:
        con.close()


def recovery_rows(cmd: list[str], root: Path) -> list[FaultRow]:
    repo = make_mend_repo(root / "mend")
    db, home = root / "mend.duckdb", root / "home"
    where = ("--db", str(db), "--home", str(home))
    _check(_cli(cmd, root, "mine", "--git", str(repo), *where), "factory mine")
    with Store(db, read_only=True) as store:
        broken, good = (c.instance_id for c in sorted(store.candidates(), key=lambda c: c.created_at))
    _sql(db, "UPDATE candidates SET base_commit = ? WHERE instance_id = ?", [MISSING_COMMIT, broken])

    built = _cli(cmd, root, "build", "--workers", "1", "--no-llm", "--no-memory", *where)
    labels = statuses(db)
    with Store(db, read_only=True) as store:
        detail = store.instance(broken).detail
    log = re.search(r"traceback in (\S+?\.log)", detail)
    trace = Path(log.group(1)).read_text() if log and Path(log.group(1)).is_file() else ""
    observed = (f"exit {built.returncode}; {labels[broken]}"
                + (", traceback on disk" if trace.startswith("Traceback") else ", no traceback file")
                + f"; next candidate {labels[good]}")
    rows = [FaultRow("internal: a candidate whose base_commit its mirror lacks (a git error in the build)",
                     "exit 0; error(internal), traceback on disk; next candidate valid", observed,
                     detail=detail[:160])]

    _sql(db, "UPDATE instances SET status = 'rejected', reason = 'no_tests_ran' WHERE instance_id = ?", [good])
    plain = _cli(cmd, root, "build", "--workers", "1", "--no-llm", "--no-memory", *where)
    kept = statuses(db)[good]
    retried = _cli(cmd, root, "build", "--workers", "1", "--no-llm", "--no-memory",
                   "--retry-rejected", "no_tests_ran", "--retry-rejected", "error2pass,pass2pass", *where)
    after = statuses(db)
    rows.append(FaultRow(
        "--retry-rejected: a rejection an older factory reached is re-opened and rebuilt",
        "plain build keeps rejected(no_tests_ran); --retry-rejected no_tests_ran: valid; the rest untouched",
        f"plain build keeps {kept}; --retry-rejected no_tests_ran: {after[good]}; "
        + ("the rest untouched" if after[broken] == labels[broken] else f"the other became {after[broken]}"),
        detail=f"exits {plain.returncode}, {retried.returncode}; {retried.stdout.strip().splitlines()[:1]}"))

    before = snapshot(db)
    bad = _cli(cmd, root, "build", "--retry-rejected", "no_tests_ran,bogus", *where)
    said = bad.stdout + bad.stderr
    names = "'bogus'" in said and all(r in said for r in ("no_tests_ran", "error2pass", "pass2pass", "flaky"))
    rows.append(FaultRow(
        "--retry-rejected with a reason that is none",
        "exit 2, names the value and the allowed reasons",
        f"exit {bad.returncode}, " + ("names the value and the allowed reasons" if names else f"said {said!r}"),
        rows_lost=rows_lost(before, snapshot(db)), detail=said.strip().replace("\n", " ")[:160]))
    return rows
