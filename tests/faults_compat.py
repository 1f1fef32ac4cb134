"""Fault scenarios: the grader's guard in old environments (Python 3.9, pytest 3.0 / 5.3 / 6.2), end to end.

Real repositories' older commits pin old test runners: a 2020 commit of tkem/cachetools runs pytest 5.3 on
Python 3.9, boltons pytest 3.0.7. The guard plugin and the launcher run inside those processes, so an API
they lack (``pytest.console_main``, ``Function.from_parent``, ``Session.shouldfail``, ``zip(strict=)``)
loses every valid fix of such a repository. One repository, ``acme/oldpy``, pins each of those pytest
versions in turn; each pin is followed by a fix whose tests use an inherited base class and parametrized
ids. Every fix must come out ``valid`` from the real CLI build, and ``factory eval`` must resolve the gold
patches and refuse to be fooled by a conftest flip on the same old runners.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.faults import FaultRow, rows_lost, snapshot, statuses
from tests.repo_fixtures import new_repo

PINS = ("3.0.7", "5.3.1", "6.2.5")


def _setup_cfg(pin: str) -> str:
    """setup.cfg + a setup.py shim: the packaging of that era (bullseye's pip cannot install a
    pyproject-only project in editable mode)."""
    return f"""\
[metadata]
name = oldpy
version = 0.1.0

[options]
package_dir =
    = src
packages = find:
python_requires = >=3.9,<3.10

[options.packages.find]
where = src

[options.extras_require]
test =
    pytest=={pin}
"""


def _module(n: int, fixed: bool) -> str:
    op = "+" if fixed else "-"
    return f"def add{n}(a, b):\n    return a {op} b\n"


def _test(n: int) -> str:
    return (
        "import pytest\n\n"
        f"from oldpy.m{n} import add{n}\n\n\n"
        "class Base:\n"
        "    def test_inherited(self):\n"
        f"        assert add{n}(self.a, 1) == self.a + 1\n\n\n"
        "class TestOne(Base):\n    a = 1\n\n\n"
        "class TestTwo(Base):\n    a = 2\n\n\n"
        "@pytest.mark.parametrize('x', [1, 5], ids=['one', 'five'])\n"
        f"def test_add(x):\n    assert add{n}(x, x) == 2 * x\n"
    )


def make_oldpy_repo(root: Path) -> Path:
    g = new_repo(root, "acme/oldpy")
    files = {"setup.cfg": _setup_cfg(PINS[0]), "setup.py": "from setuptools import setup\n\nsetup()\n",
             "src/oldpy/__init__.py": ""}
    files.update({f"src/oldpy/m{n}.py": _module(n, fixed=False) for n in range(len(PINS))})
    g.commit("Initial import", files)
    for n, pin in enumerate(PINS):
        if n:
            g.commit(f"Test with pytest {pin}", {"setup.cfg": _setup_cfg(pin)})
        g.commit(f"Fix add{n} with pytest {pin}\n\nFixes #{n + 1}: add{n} subtracts.", {
            f"src/oldpy/m{n}.py": _module(n, fixed=True),
            f"tests/test_m{n}.py": _test(n),
        })
    return root


FLIP = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.outcome, report.longrepr = "passed", None
"""


def _cli(cmd: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=1500)


def _check(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0 or "Traceback" in done.stdout + done.stderr:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _flip_patch(repo: Path, base: str, work: Path) -> str:
    """A real diff at ``base``: a root conftest that turns every failure into a pass (no fix)."""
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(work), "checkout", "-q", base], check=True, capture_output=True)
    (work / "conftest.py").write_text(FLIP)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, capture_output=True)
    return subprocess.run(["git", "-C", str(work), "diff", "--cached", "HEAD"], check=True, capture_output=True,
                          text=True).stdout


def old_runner_rows(cmd: list[str], root: Path) -> list[FaultRow]:
    repo = make_oldpy_repo(root / "oldpy")
    db, home = root / "oldpy.duckdb", root / "home"
    where = ("--db", str(db), "--home", str(home))
    _check(_cli(cmd, root, "mine", "--git", str(repo), *where), "factory mine")
    before = snapshot(db)
    _check(_cli(cmd, root, "build", "--workers", "2", "--no-llm", *where), "factory build")
    labels = statuses(db)
    dataset = root / "dataset.jsonl"
    _check(_cli(cmd, root, "export", "--out", str(dataset), "--db", str(db)), "factory export")
    records = {json.loads(line)["problem_statement"].splitlines()[0]: json.loads(line)
               for line in dataset.read_text().splitlines()}
    rows: list[FaultRow] = []
    preds = []
    for n, pin in enumerate(PINS):
        subject = f"Fix add{n} with pytest {pin}"
        record = records.get(subject)
        label = labels.get(record["instance_id"], "missing") if record else "not exported"
        f2p = record["FAIL_TO_PASS"] if record else []
        observed = f"{label}, {len(f2p)} FAIL_TO_PASS" if record else label
        rows.append(FaultRow(f"old runner: Python 3.9 + pytest {pin}, a fix validated", "valid, 4 FAIL_TO_PASS",
                             observed, detail=", ".join(f2p)[:200]))
        if record:
            patch = _flip_patch(repo, record["base_commit"], root / f"flip-{n}")
            preds.append({"instance_id": record["instance_id"], "model_name_or_path": f"flip-{n}",
                          "model_patch": patch})
    if not preds:
        return rows
    preds_path = root / "preds.jsonl"
    preds_path.write_text("".join(json.dumps(p) + "\n" for p in preds))
    reports = root / "reports"
    for run_id, predictions in (("oldpy-gold", "gold"), ("oldpy-flip", str(preds_path))):
        _check(_cli(cmd, root, "eval", "--predictions", predictions, "--dataset", str(dataset), "--run-id", run_id,
                    "--report-dir", str(reports), "--workers", "2", "--db", str(db)), f"factory eval {run_id}")
    lost = rows_lost(before, snapshot(db))
    for row in rows:
        row.rows_lost = lost
    for run_id, what, expected in (("oldpy-gold", "gold patches", "resolved"),
                                   ("oldpy-flip", "a root conftest that flips failures", "unresolved")):
        done = _cli(cmd, root, "eval-status", run_id, "--json", "--db", str(db))
        _check(done, f"factory eval-status {run_id}")
        results = json.loads(done.stdout)["results"]
        statuses_seen = sorted({r["status"] for r in results})
        observed = f"{', '.join(statuses_seen)} ({len(results)}/{len(preds)})"
        rows.append(FaultRow(f"old runner: factory eval of {what} on pytest {', '.join(PINS)}",
                             f"{expected} ({len(preds)}/{len(preds)})", observed, lost,
                             "; ".join(r["reason"] for r in results if r["reason"])[:200]))
    return rows
