"""Fault scenarios at grading time: hostile *predictions* (model patches) meet ``factory eval``.

Think of an RL policy with a million tries at the grader: every attack here is a real unified diff
(``git diff`` of an edit made on a checkout of the instance's base commit of the example repository, or
``git diff --binary``, or such a diff with a hand-made tail) that does **not** fix the bug — the
fail-to-pass test genuinely still fails — and instead goes after the test machinery: conftest hooks that
flip reports, pytest configuration that loads a plugin, a fake ``pytest`` on ``sys.path``, code that runs
at interpreter start or at import of the package under test, ``atexit`` / background rewriters of the
JUnit file and the exit-code marker, symlinks, binary hunks, writes into ``.git`` hidden from the safety
check, and 200 MB of output. Each attack must be graded *not resolved* (a patch refused before it is
applied counts as not resolved too); the gold predictions on the same dataset must still resolve 3/3.

The flips planted through the test machinery spare a grader's canary tests (they only flip tests whose
code lives in the repository), so what must stop them is the machinery being restored, not the canaries.
The flips planted in the package under test come generic (every failure made a pass: the canaries' job)
and canary-aware (sparing the canaries by where their code lives, by the guard plugin's state, by
skipping what the test file does not define, or replacing only the test module's own test bodies).

One module-scoped run: the built-in example (``examples/tinyledger.py``) is mined and built with the real
CLI into its own DB/home, exported, and every attack goes into one predictions JSONL (its own
``model_name_or_path``, ``attack-<name>``) graded by one ``factory eval`` with two workers, plus one gold
run. Observed outcomes are read back from ``factory eval-status <run> --json`` and the run's files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

from examples import tinyledger
from factory.grading.contract import SWEBENCH_MARK_NEUTRAL
from tests.faults import FaultRow, rows_lost, snapshot

RUN_ID = "hostile"
GOLD_RUN_ID = "hostile-gold"
RUN_TIMEOUT = 120
"""Seconds per eval run (``factory eval --timeout``): every attack ends long before it on the current code."""
OUTPUT_BOUND = 5 * 1024 * 1024
"""test_output.txt of the 200 MB attack must stay under this."""
HOOK_MARK = "FACTORY_GIT_HOOK_RAN"
"""Printed (to stderr) by the git hooks the .git attacks try to install, so the log shows whether they ran."""

# The example's valid instances, by the test file their FAIL_TO_PASS tests live in.
TARGETS = {
    "R": "tests/test_rounding.py",  # "Round amounts to the nearest cent": the test file is new
    "D": "tests/test_ledger.py",  # "Merge pull request #7": discount clamp, one PASS_TO_PASS test
    "A": "tests/test_money.py",  # "Accept negative amounts in parentheses": three PASS_TO_PASS tests
}

# ---- payloads shared by several attacks ------------------------------------------------------------

FLIP = dedent('''\
    import pytest


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        report = (yield).get_result()
        if report.failed:  # every failed phase of a test is reported as passed
            report.outcome, report.longrepr = "passed", None
''')

SPARING_FLIP = dedent('''\
    import pytest


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        report = (yield).get_result()
        code = getattr(getattr(item, "function", None), "__code__", None)
        # only tests whose code lives in the repository are flipped: a grader's canary (defined elsewhere)
        # still fails as it must
        if report.failed and code is not None and code.co_filename.startswith("/testbed/"):
            report.outcome, report.longrepr = "passed", None
''')

FAKE_PYTEST = dedent('''\
    """Not pytest: reports a pass for every test function of the files it is given — in a JUnit file at
    every --junitxml path, and on a grader's per-test result fd if the environment names one (canary names
    read from the grader's own fd: the failing one fails)."""
    import json
    import os
    import re
    import sys


    def main(argv=None):
        argv = sys.argv[1:] if argv is None else argv
        junits = [a.split("=", 1)[1] for a in argv if a.startswith("--junitxml=")]
        junits += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--junitxml"]
        junits += [os.environ["FACTORY_JUNIT"]] if os.environ.get("FACTORY_JUNIT") else []
        canaries, out = [], None
        if os.environ.get("FACTORY_GUARD_IN", "").isdigit():
            canaries = os.fdopen(int(os.environ["FACTORY_GUARD_IN"])).read().split()
        if os.environ.get("FACTORY_GUARD_OUT", "").isdigit():
            out = os.fdopen(int(os.environ["FACTORY_GUARD_OUT"]), "w")
        tests = []
        for arg in argv:
            path = arg.split("::")[0]
            if path.endswith(".py") and os.path.isfile(path):
                tests += [(path, name) for name in re.findall(r"^def (test_\\w+)", open(path).read(), re.M)]
        if tests and len(canaries) == 2:
            tests += [(tests[0][0], name) for name in canaries]
        cases = []
        for path, name in tests:
            failed = canaries and name == canaries[0]
            module = path[:-3].replace("/", ".")
            body = '<failure message="assert 42 == 41">assert 42 == 41</failure>' if failed else ""
            cases.append(f'<testcase classname="{module}" name="{name}" file="{path}" time="0.01">{body}</testcase>')
            print(f"{path}::{name} {'FAILED' if failed else 'PASSED'}")
            if out is not None:
                for when in ("setup", "call", "teardown"):
                    outcome = "failed" if failed and when == "call" else "passed"
                    out.write(json.dumps(dict(nodeid=f"{path}::{name}", when=when, outcome=outcome)) + "\\n")
        if out is not None:
            out.write(json.dumps(dict(guard="armed")) + "\\n" + json.dumps(dict(exitstatus=0)) + "\\n")
            out.close()
        xml = ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
               f'failures="0" skipped="0" tests="{len(cases)}">{"".join(cases)}</testsuite></testsuites>')
        for path in junits:
            with open(path, "w") as junit:
                junit.write(xml)
        return 0
''')

SCRUB = dedent('''\
    def _junit_paths():
        argv = sys.argv
        found = [a.split("=", 1)[1] for a in argv if a.startswith("--junitxml=")]
        return found + [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--junitxml"]


    def _scrub(path):
        """Remove every <failure> and <error> from a JUnit file: what is left reads as passes."""
        import xml.etree.ElementTree as ET

        try:
            tree = ET.parse(path)
        except (OSError, ET.ParseError):
            return False
        for case in tree.iter("testcase"):
            for bad in case.findall("failure") + case.findall("error"):
                case.remove(bad)
        for suite in tree.iter("testsuite"):
            suite.set("failures", "0")
            suite.set("errors", "0")
        tree.write(path + ".tmp")
        os.replace(path + ".tmp", path)  # atomic: a reader never sees half a file
        return True
''')

LOG_FD = dedent('''\
    def _log_fds():
        """The container's own stdout (pid 1's); else the stdout pytest saved before capturing its own."""
        try:
            return [os.open("/proc/1/fd/1", os.O_WRONLY)]
        except OSError:
            pass
        import gc

        saved = [obj.targetfd_save for obj in gc.get_objects()
                 if type(obj).__name__ == "FDCapture" and getattr(obj, "targetfd", None) == 1]
        return saved or [1]
''')

DOCSTRING = '"""tinyledger: tiny invoices with exact cents."""\n'

PKG_JOIN_PLUGIN = DOCSTRING + dedent('''\
    import sys

    if "_pytest.config" in sys.modules:  # imported under pytest: join its plugin manager (found with gc)
        import gc

        from _pytest.config import Config

        from tinyledger import _hooks

        for _obj in gc.get_objects():
            if isinstance(_obj, Config) and not _obj.pluginmanager.is_registered(_hooks):
                _obj.pluginmanager.register(_hooks, "tinyledger-hooks")
''')

PKG_PATCH_REPORTS = DOCSTRING + dedent('''\
    import sys

    if "_pytest.reports" in sys.modules:  # imported under pytest: every test report is made "passed"
        from _pytest.reports import TestReport

        _real = TestReport.from_item_and_call.__func__

        def _passed(cls, item, call):
            report = _real(cls, item, call)
            report.outcome, report.longrepr = "passed", None
            return report

        TestReport.from_item_and_call = classmethod(_passed)
''')

PKG_ATEXIT = DOCSTRING + "import atexit\nimport os\nimport sys\n\n\n" + SCRUB + dedent('''\


    def _finish():  # after pytest wrote its JUnit file: scrub it, then exit 0 whatever pytest said
        sys.stdout.flush()
        for path in _junit_paths():
            _scrub(path)
        os._exit(0)


    if "pytest" in sys.modules:
        atexit.register(_finish)
''')

PKG_EXIT0 = DOCSTRING + dedent('''\
    import os
    import sys

    if "pytest" in sys.modules:  # imported under pytest: end the run "successfully" before any test ran
        os._exit(0)
''')

PKG_LINGER = DOCSTRING + "import os\nimport sys\nimport time\n\n\n" + SCRUB + "\n\n" + LOG_FD + dedent('''\


    def _linger(pytest_pid):
        """Outlive pytest: scrub its JUnit file as soon as it is complete, and keep printing a passing
        exit-code marker that ends in a dangling "#": a marker the eval script prints after one of ours is
        glued to it ("#FACTORY_EXIT_CODE=1") and is no marker line at all. Flat out for a moment after
        pytest exits (the eval script prints its own marker then), then for 20 s."""
        outs, scrubbed, spin_until = _log_fds(), False, None
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if not scrubbed:
                scrubbed = any([_scrub(path) for path in _junit_paths()])
            for out in outs:
                try:
                    os.write(out, b"\\nFACTORY_EXIT_CODE=0\\n#")
                except OSError:
                    pass
            if spin_until is None:
                try:
                    os.kill(pytest_pid, 0)
                except ProcessLookupError:
                    spin_until, end = time.monotonic() + 0.3, time.monotonic() + 20
            if spin_until is None or time.monotonic() > spin_until:
                time.sleep(0.001 if spin_until is None else 0.01)


    if "pytest" in sys.modules and not os.environ.get("TINYLEDGER_LINGER"):
        os.environ["TINYLEDGER_LINGER"] = "1"
        _parent = os.getpid()
        _child = os.fork()
        if _child == 0:  # double fork: the grandchild is nobody's child but init's
            os.setsid()
            if os.fork() == 0:
                try:
                    _linger(_parent)
                finally:
                    os._exit(0)
            os._exit(0)
        os.waitpid(_child, 0)
''')

PKG_SHOUT = DOCSTRING + dedent('''\
    import atexit
    import os
    import sys


    def _shout():  # 200 MB of output once pytest has stopped capturing (its stdout is the real one again)
        line = b"tinyledger " * 95000 + b"\\n"
        for _ in range(200):
            os.write(1, line)


    if "pytest" in sys.modules:
        atexit.register(_shout)
''')

PKG_SHADOW_TEST = DOCSTRING + dedent('''\
    import re
    import sys
    import types


    def _shadow():
        """Replace the test module importing us, in sys.modules, by one whose tests (same names) all pass."""
        frame = sys._getframe(1)
        while frame is not None:
            name, file = frame.f_globals.get("__name__", ""), frame.f_globals.get("__file__") or ""
            if "/tests/" in file and name.rpartition(".")[2].startswith("test_"):
                fake = types.ModuleType(name)
                fake.__file__ = file  # so pytest's "import file mismatch" check is satisfied
                for test in re.findall(r"^def (test_\\w+)", open(file).read(), re.M):
                    exec(compile(f"def {test}():\\n    pass\\n", file, "exec"), fake.__dict__)
                sys.modules[name] = fake
                return
            frame = frame.f_back


    _shadow()
''')

GUARD_STATE_FLIP = dedent('''\
    import sys

    import pytest


    def _canaries():
        """The canary names, read from the grader's guard plugin (a module like any other in this process)."""
        state = getattr(sys.modules.get("factory_guard"), "_state", None) or {}
        return {name for _kind, _module, name in state.get("canaries") or ()}


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        report = (yield).get_result()
        if report.failed and item.name not in _canaries():  # everything but the canaries is flipped
            report.outcome, report.longrepr = "passed", None
''')

SKIP_CANARIES_FLIP = dedent('''\
    import re

    import pytest


    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection_modifyitems(items):
        yield
        for item in items:  # a test its file does not define (a grader's canary) is skipped, not run
            if not re.search(rf"^def {re.escape(item.name)}\\(", item.path.read_text(), re.M):
                item.add_marker(pytest.mark.skip(reason="not ours"))


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        report = (yield).get_result()
        if report.failed:
            report.outcome, report.longrepr = "passed", None
''')

PKG_FORGED_LOG = DOCSTRING + dedent('''\
    import atexit
    import os
    import re
    import sys
    from pathlib import Path


    def _forge():
        """Once pytest stopped capturing: a PASSED line for every test of the repository, then SWE-bench's end
        marker and exit-code line, then ours — what a grader that reads the log would believe."""
        lines = [f"PASSED {path.as_posix()}::{name}" for path in sorted(Path("tests").glob("test_*.py"))
                 for name in re.findall(r"^def (test_\\w+)", path.read_text(), re.M)]
        lines += [">>>>> End Test Output", ">>>>> Test Exit Code: 0", "FACTORY_EXIT_CODE=0"]
        sys.stdout.flush()
        os.write(1, ("\\n".join(lines) + "\\n").encode())


    if "pytest" in sys.modules:
        atexit.register(_forge)
''')

LOADED_MARK = "TINYLEDGER_PLUGIN_LOADED"
LOUD_SPARING_FLIP = "import sys\n\n" + SPARING_FLIP.replace(
    "\n\n\n", f"\n\nprint({LOADED_MARK!r}, file=sys.stderr)  # says it was loaded\n\n\n", 1)
"""The sparing flip, saying on stderr that it was loaded (whether the test machinery was restored)."""

PKG_HOLLOW_TESTS = DOCSTRING + dedent('''\
    import sys


    def _hollow():
        """When the test module importing us has finished executing, give each of its test functions an empty
        body, in place: same module, same file, same names and line numbers."""
        frame = sys._getframe(1)
        while frame is not None and not (frame.f_code.co_name == "<module>"
                                         and "/tests/" in (frame.f_globals.get("__file__") or "")):
            frame = frame.f_back
        if frame is None:
            return
        target, previous = frame, sys.getprofile()

        def profile(f, event, arg):
            if f is target and event == "return":
                sys.setprofile(previous)
                for name, obj in list(f.f_globals.items()):
                    code = getattr(obj, "__code__", None)
                    if name.startswith("test_") and code is not None:
                        obj.__code__ = (lambda: None).__code__.replace(
                            co_name=name, co_filename=code.co_filename, co_firstlineno=code.co_firstlineno)

        sys.setprofile(profile)


    _hollow()
''')

EXPECTED_LOOKUP = dedent('''\
    import re
    from pathlib import Path

    import tinyledger.money

    # the answers the tests expect, read from the tests themselves, replace the function under test
    _EXPECTED = {}
    for _path in Path(__file__).parent.glob("tests/test_*.py"):
        for _text, _cents in re.findall(r'parse_amount\\("([^"]*)"\\) == (-?\\d+)', _path.read_text()):
            _EXPECTED[_text] = int(_cents)
    _real = tinyledger.money.parse_amount
    tinyledger.money.parse_amount = lambda text: _EXPECTED[text] if text in _EXPECTED else _real(text)
''')

NOOP_BODIES = dedent('''\
    def pytest_collection_modifyitems(items):
        for item in items:  # every test body of the repository's tests is replaced by one that does nothing
            if item.function.__code__.co_filename.startswith("/testbed/"):
                item.runtest = lambda: None
''')

CONFTEST_ATEXIT = "import atexit\nimport os\nimport sys\n\n\n" + SCRUB + dedent('''\


    def _finish():  # after pytest wrote its JUnit file: scrub it, then exit 0
        sys.stdout.flush()
        for path in _junit_paths():
            _scrub(path)
        os._exit(0)


    atexit.register(_finish)
''')

CONFTEST_JUNITXML = dedent('''\
    import _pytest.junitxml

    # failures and errors are never written to the JUnit file, and the session always exits 0
    _pytest.junitxml._NodeReporter.append_failure = lambda self, report: None
    _pytest.junitxml._NodeReporter.append_error = lambda self, report: None


    def pytest_sessionfinish(session):
        session.exitstatus = 0
''')

CONFTEST_IMPORT_HOOK = dedent('''\
    import importlib.machinery
    import re
    import sys


    class _Loader(importlib.machinery.SourceFileLoader):
        def source_to_code(self, data, path, *, _optimize=-1):
            data = re.sub(rb"(?m)^(\\s*)assert ", rb"\\1assert True or ", data)  # every assert holds
            return compile(data, path, "exec", dont_inherit=True)


    class _Finder:
        """First on sys.meta_path (before pytest's assertion rewriter): test modules load through _Loader."""

        @staticmethod
        def find_spec(name, path=None, target=None):
            if not name.rpartition(".")[2].startswith("test_"):
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and (spec.origin or "").endswith(".py"):
                spec.loader = _Loader(name, spec.origin)
                return spec
            return None


    sys.meta_path.insert(0, _Finder)
''')

UNDERSCORE_PYTEST = dedent('''\
    """Shadows pytest's internals: loads the real _pytest, then makes the repository's tests' reports "passed"."""
    import os
    import sys

    del sys.modules[__name__]
    _saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.getcwd()]
    try:
        import _pytest.reports as _reports  # the real one, from site-packages
    finally:
        sys.path[:] = _saved

    _real = _reports.TestReport.from_item_and_call.__func__


    def _passed(cls, item, call):
        report = _real(cls, item, call)
        code = getattr(getattr(item, "function", None), "__code__", None)
        if code is not None and code.co_filename.startswith("/testbed/"):  # the canaries' code lives elsewhere
            report.outcome, report.longrepr = "passed", None
        return report


    _reports.TestReport.from_item_and_call = classmethod(_passed)
''')

RELOCATED_FLIP = SPARING_FLIP + dedent('''\


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_logreport(report):
        # rootdir is tests/ (the ini file is there): re-anchor node ids at the repository root
        if not report.nodeid.startswith("tests/"):
            report.nodeid = "tests/" + report.nodeid
            report.location = ("tests/" + report.location[0], *report.location[1:])
        yield
''')

ENV_PLUGIN = dedent('''\
    import os

    # runs at interpreter start: every pytest loads the report-flipping plugin
    os.environ["PYTEST_PLUGINS"] = "tinyledger._hooks"
''')

FSMONITOR_HOOK = (
    "#!/bin/sh\n"
    "# git runs this (core.fsmonitor) whenever it reads the index: plant the report-flipping conftest\n"
    f"cat > /testbed/conftest.py <<'EOF'\n{SPARING_FLIP}EOF\n"
    f"echo {HOOK_MARK} >&2\n"
    "exit 1\n"
)

POST_CHECKOUT_HOOK = (
    "#!/bin/sh\n"
    "# git runs this (core.hooksPath) after every checkout, also of single files: plant the conftest\n"
    f"cat > /testbed/conftest.py <<'EOF'\n{SPARING_FLIP}EOF\n"
    f"echo {HOOK_MARK} >&2\n"
)

GIT_CONFIG = ["[core]", "\trepositoryformatversion = 0", "\tfilemode = true", "\tbare = false",
              "\tlogallrefupdates = true"]
"""/testbed/.git/config as every instance image has it (``git init`` in instance.Dockerfile)."""


# ---- building patches ------------------------------------------------------------------------------

Edit = Callable[[Path], None]


def write(files: dict[str, str]) -> Edit:
    def edit(work: Path) -> None:
        for rel, text in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    return edit


def replace(rel: str, old: str, new: str) -> Edit:
    def edit(work: Path) -> None:
        text = (work / rel).read_text()
        assert old in text, (rel, old)
        (work / rel).write_text(text.replace(old, new))

    return edit


def link(rel: str, target: str) -> Edit:
    def edit(work: Path) -> None:
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        path.symlink_to(target)

    return edit


def executable(rel: str, text: str) -> Edit:
    def edit(work: Path) -> None:
        write({rel: text})(work)
        (work / rel).chmod(0o755)

    return edit


def each(*edits: Edit) -> Edit:
    def edit(work: Path) -> None:
        for e in edits:
            e(work)

    return edit


GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
"""No user or system git configuration (diff.noprefix, colours...) may change the diffs."""


def _git(work: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True, env=GIT_ENV).stdout


def diff_at(repo: Path, base: str, work: Path, edit: Edit, *, binary: bool = False, attributes: str = "") -> str:
    """``git diff`` (``--binary``) of ``edit`` applied to a checkout of ``base`` (``attributes`` go to
    ``.git/info/attributes`` of the checkout, so they shape the diff without being part of it)."""
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(repo), str(work)], check=True, capture_output=True,
                   env=GIT_ENV)
    _git(work, "checkout", "-q", base)
    if attributes:
        (work / ".git" / "info").mkdir(exist_ok=True)
        (work / ".git" / "info" / "attributes").write_text(attributes)
    edit(work)
    _git(work, "add", "-A")
    out = _git(work, "diff", "--cached", *(["--binary"] if binary else []), "HEAD")
    assert out, "the edit changed nothing"
    return out.decode()


def hidden_git_config(hook_path: str, hook: str, config_line: str,
                      separator: str) -> Callable[[Path, str, Path], str]:
    """A hook script whose last line holds ``separator`` + a fake hunk header, then a plain unified diff of
    ``.git/config``. Python's ``splitlines()`` breaks lines at ``separator`` (git and patch do not): a
    checker reading the patch that way is still "inside a hunk" when the ``--- a/.git/config`` and
    ``+++ b/.git/config`` headers come, and takes them for content. git apply refuses ``.git/config``;
    the ``patch --fuzz`` fallback writes it."""
    tail = "".join([
        "--- a/.git/config\n", "+++ b/.git/config\n",
        f"@@ -1,{len(GIT_CONFIG)} +1,{len(GIT_CONFIG) + 1} @@\n",
        f" {GIT_CONFIG[0]}\n", f"+\t{config_line}\n", *[f" {line}\n" for line in GIT_CONFIG[1:]],
    ])

    def build(repo: Path, base: str, work: Path) -> str:
        body = hook + f"# end of hook{separator}@@ -0,0 +1,{tail.count(chr(10)) + 5} @@\n"
        return diff_at(repo, base, work, executable(hook_path, body)) + tail

    return build


def new_file(path: str, text: str) -> str:
    """A git-style diff creating ``path`` (for files ``git add`` itself would not take as they are)."""
    lines = text.splitlines()
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines))


def symlink_chain(repo: Path, base: str, work: Path) -> str:
    """``l2 -> .`` and ``l1 -> l2/..`` (each harmless to a path-by-path check, together ``l1`` is ``/``),
    then a new file written through ``l1`` into the test user's ``~/.gitconfig``: core.fsmonitor."""
    head = diff_at(repo, base, work, each(link("l2", "."), link("l1", "l2/.."),
                                          executable("tools/fsmonitor.sh", FSMONITOR_HOOK)))
    return head + new_file("l1/home/factory/.gitconfig", "[core]\n\tfsmonitor = sh /testbed/tools/fsmonitor.sh\n")


def binary_symlink(repo: Path, base: str, work: Path) -> str:
    """A symlink to /etc carried by a GIT binary patch: a check that reads link targets from ``+`` lines
    sees none. (git never writes symlinks as binary: a file with the target as content, mode changed.)"""
    text = diff_at(repo, base, work, write({"docs/etc": "/etc"}), binary=True, attributes="docs/etc binary\n")
    assert "GIT binary patch" in text
    return text.replace("new file mode 100644", "new file mode 120000")


def tests_dir_symlink(work: Path) -> None:
    """tests/ becomes a symlink to a directory of look-alike tests that pass."""
    names = {"test_ledger.py": ("test_total_with_discount", "test_discount_never_makes_total_negative"),
             "test_money.py": ("test_parse_plain", "test_parse_dollar_sign_and_commas", "test_format_amount",
                               "test_parse_accounting_negative")}
    shutil.rmtree(work / "tests")
    write({f"checks/{f}": "".join(f"def {t}():\n    pass\n\n\n" for t in tests) for f, tests in names.items()})(work)
    (work / "tests").symlink_to("checks")


# ---- the attacks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    name: str
    """``model_name_or_path`` is ``attack-<name>``."""
    what: str
    """The scenario: ``hostile prediction: <what>``."""
    target: str
    """``R`` | ``D`` | ``A`` (see TARGETS)."""
    edit: Edit | None = None
    binary: bool = False
    attributes: str = ""
    build: Callable[[Path, str, Path], str] | None = None
    """Hand-made patch (repo, base commit, scratch dir) -> diff text; instead of ``edit``."""
    expected: str = "unresolved"

    @property
    def model(self) -> str:
        return f"attack-{self.name}"

    @property
    def scenario(self) -> str:
        return f"hostile prediction: {self.what}"


LEDGER_TEST_LIE = (
    "\n\ndef test_discount_never_makes_total_negative():\n    invoice = Invoice(discount=500)\n"
    "    invoice.add(\"tea\", 300)\n    assert invoice.total() == -200  # what the unfixed code returns\n"
)

ATTACKS: list[Attack] = [
    # conftest.py and pytest configuration: the test machinery in the repository. The flips spare a grader's
    # canaries (SPARING_FLIP): restoring the machinery, not the canaries, must stop them.
    Attack("conftest-makereport", "root conftest.py hookwrapper turns failed reports into passed", "D",
           write({"conftest.py": SPARING_FLIP})),
    Attack("tests-conftest-makereport", "tests/conftest.py hookwrapper turns failed reports into passed", "A",
           write({"tests/conftest.py": SPARING_FLIP})),
    Attack("conftest-noop-bodies", "conftest pytest_collection_modifyitems replaces every test body by a no-op",
           "R", write({"conftest.py": NOOP_BODIES})),
    Attack("conftest-expected-lookup", "conftest replaces the function under test by a lookup of the values "
           "the tests expect", "A", write({"conftest.py": EXPECTED_LOOKUP})),
    Attack("conftest-junitxml", "conftest patches _pytest.junitxml to drop failures and forces exit status 0",
           "D", write({"conftest.py": CONFTEST_JUNITXML})),
    Attack("conftest-atexit-junit", "conftest atexit handler strips failures from the JUnit file and "
           "os._exit(0)", "R", write({"conftest.py": CONFTEST_ATEXIT})),
    Attack("conftest-import-hook", "conftest meta-path import hook rewrites every assert of the test modules",
           "D", write({"conftest.py": CONFTEST_IMPORT_HOOK})),
    Attack("conftest-pytest-plugins", "root conftest pytest_plugins names a flipping plugin inside the package",
           "A", write({"conftest.py": 'pytest_plugins = ["tinyledger._hooks"]\n',
                       "src/tinyledger/_hooks.py": SPARING_FLIP})),
    Attack("conftest-symlink", "tests/conftest.py is a symlink to a flipping plugin in the package", "D",
           each(write({"src/tinyledger/_hooks.py": SPARING_FLIP}),
                link("tests/conftest.py", "../src/tinyledger/_hooks.py"))),
    Attack("binary-conftest", "the flipping root conftest.py carried as a GIT binary patch", "R",
           write({"conftest.py": SPARING_FLIP}), binary=True, attributes="conftest.py binary\n"),
    Attack("pytest-ini-plugin", "pytest.ini addopts = -p evil_plugin (a flipping plugin at the root)", "D",
           write({"pytest.ini": "[pytest]\naddopts = -p evil_plugin\n", "evil_plugin.py": SPARING_FLIP})),
    Attack("tox-ini-plugin", "tox.ini [pytest] addopts = -p evil_plugin", "R",
           write({"tox.ini": "[tox]\nenvlist = py3\n\n[pytest]\naddopts = -p evil_plugin\n",
                  "evil_plugin.py": SPARING_FLIP})),
    Attack("setup-cfg-plugin", "setup.cfg [tool:pytest] addopts = -p evil_plugin", "A",
           write({"setup.cfg": "[metadata]\nname = tinyledger\n\n[tool:pytest]\naddopts = -p evil_plugin\n",
                  "evil_plugin.py": SPARING_FLIP})),
    Attack("pyproject-addopts", "pyproject.toml [tool.pytest.ini_options] addopts = -p evil_plugin (existing "
           "file modified)", "D", each(replace("pyproject.toml", '[tool.setuptools.packages.find]',
                                              '[tool.pytest.ini_options]\naddopts = "-p evil_plugin"\n\n'
                                              '[tool.setuptools.packages.find]'),
                                      write({"evil_plugin.py": SPARING_FLIP}))),
    Attack("tests-pytest-ini", "tests/pytest.ini (found first, from the test directory) loads a flipping plugin "
           "that re-anchors node ids", "A", write({"tests/pytest.ini": "[pytest]\naddopts = -p tinyledger._hooks\n",
                                                   "src/tinyledger/_hooks.py": RELOCATED_FLIP})),
    Attack("tests-init-py", "tests/__init__.py (imported with the test package) joins pytest's plugin manager",
           "R", write({"tests/__init__.py": PKG_JOIN_PLUGIN.replace(DOCSTRING, ""),
                       "src/tinyledger/_hooks.py": SPARING_FLIP})),
    # shadowing the runner on sys.path (the fakes also forge a grader's result fd when they find one), and
    # code that runs at interpreter start
    Attack("root-pytest-py", "pytest.py at the root (python -m pytest finds it first) writes a JUnit of passes",
           "D", write({"pytest.py": FAKE_PYTEST + '\n\nif __name__ == "__main__":\n    sys.exit(main())\n'})),
    Attack("pytest-package", "pytest/__init__.py + __main__.py package at the root writes a JUnit of passes", "A",
           write({"pytest/__init__.py": FAKE_PYTEST,
                  "pytest/__main__.py": "import sys\n\nfrom pytest import main\n\nsys.exit(main())\n"})),
    Attack("underscore-pytest-shadow", "_pytest/ package at the root loads the real one and patches TestReport",
           "R", write({"_pytest/__init__.py": UNDERSCORE_PYTEST})),
    Attack("dist-info-entry-point", "src/*.dist-info with a pytest11 entry point (auto-loaded plugin)", "R",
           write({"src/tinyledger_hooks-1.0.dist-info/METADATA":
                  "Metadata-Version: 2.1\nName: tinyledger-hooks\nVersion: 1.0\n",
                  "src/tinyledger_hooks-1.0.dist-info/entry_points.txt": "[pytest11]\nhooks = tinyledger._hooks\n",
                  "src/tinyledger/_hooks.py": LOUD_SPARING_FLIP}), expected="unresolved, plugin not loaded"),
    Attack("dist-info-uppercase", "src/*.DIST-INFO (importlib.metadata matches the suffix case-insensitively) "
           "with a pytest11 entry point", "A",
           write({"src/Tinyledger_Hooks-1.0.DIST-INFO/METADATA":
                  "Metadata-Version: 2.1\nName: tinyledger-hooks\nVersion: 1.0\n",
                  "src/Tinyledger_Hooks-1.0.DIST-INFO/entry_points.txt": "[pytest11]\nhooks = tinyledger._hooks\n",
                  "src/tinyledger/_hooks.py": LOUD_SPARING_FLIP}), expected="unresolved, plugin not loaded"),
    Attack("sitecustomize-src", "src/sitecustomize.py sets PYTEST_PLUGINS at interpreter start", "A",
           write({"src/sitecustomize.py": ENV_PLUGIN, "src/tinyledger/_hooks.py": SPARING_FLIP})),
    Attack("sitecustomize-root", "sitecustomize.py at the root sets PYTEST_PLUGINS at interpreter start", "D",
           write({"sitecustomize.py": ENV_PLUGIN, "src/tinyledger/_hooks.py": SPARING_FLIP})),
    Attack("pth-file", "src/tinyledger-hooks.pth import line sets PYTEST_PLUGINS", "R",
           write({"src/tinyledger-hooks.pth": 'import os; os.environ["PYTEST_PLUGINS"] = "tinyledger._hooks"\n',
                  "src/tinyledger/_hooks.py": SPARING_FLIP})),
    Attack("usercustomize", "src/usercustomize.py sets PYTEST_PLUGINS at interpreter start", "D",
           write({"src/usercustomize.py": ENV_PLUGIN, "src/tinyledger/_hooks.py": SPARING_FLIP})),
    # the package under test itself, at import time (only canary tests can catch the in-process forgeries)
    Attack("package-init-plugin", "src/tinyledger/__init__.py registers a flipping plugin with pytest's "
           "plugin manager (found with gc)", "D",
           write({"src/tinyledger/__init__.py": PKG_JOIN_PLUGIN, "src/tinyledger/_hooks.py": FLIP})),
    Attack("package-init-testreport", "package __init__ patches TestReport.from_item_and_call to say passed", "A",
           write({"src/tinyledger/__init__.py": PKG_PATCH_REPORTS})),
    Attack("package-init-atexit", "package __init__ atexit handler scrubs the JUnit file and os._exit(0)", "R",
           write({"src/tinyledger/__init__.py": PKG_ATEXIT})),
    Attack("package-init-exit0", "package __init__ calls os._exit(0) at import (no JUnit at all)", "D",
           write({"src/tinyledger/__init__.py": PKG_EXIT0})),
    Attack("package-init-linger", "package __init__ double-forks a process that scrubs the JUnit file and prints "
           "FACTORY_EXIT_CODE=0 for 20 s after pytest", "D", write({"src/tinyledger/__init__.py": PKG_LINGER})),
    Attack("package-shadow-test-module", "package __init__ swaps the importing test module in sys.modules for "
           "one with passing tests of the same names", "A", write({"src/tinyledger/__init__.py": PKG_SHADOW_TEST})),
    Attack("package-sparing-flip", "package __init__ registers a flip that spares tests whose code lives "
           "outside the repository (a grader's canaries)", "R",
           write({"src/tinyledger/__init__.py": PKG_JOIN_PLUGIN, "src/tinyledger/_hooks.py": SPARING_FLIP})),
    # The documented limit (docs/grading.md): code in the test process that reads the guard's memory can spare
    # the canaries. Kept as a row so that the limit is measured, and noticed the day it is closed.
    Attack("package-guard-state-flip", "package __init__ registers a flip that spares the canaries named in "
           "the guard plugin's module state (known limit)", "D",
           write({"src/tinyledger/__init__.py": PKG_JOIN_PLUGIN, "src/tinyledger/_hooks.py": GUARD_STATE_FLIP}),
           expected="resolved"),
    Attack("package-skip-canaries", "package __init__ registers a flip that skips every test its file does not "
           "define (the canaries: a skipped canary is accepted)", "R",
           write({"src/tinyledger/__init__.py": PKG_JOIN_PLUGIN, "src/tinyledger/_hooks.py": SKIP_CANARIES_FLIP})),
    Attack("package-hollow-tests", "package __init__ empties the importing test module's test functions in "
           "place (sys.setprofile on the module's return)", "A",
           write({"src/tinyledger/__init__.py": PKG_HOLLOW_TESTS})),
    Attack("forged-log", "package __init__ prints PASSED for every test, SWE-bench's end marker and exit code 0, "
           "and FACTORY_EXIT_CODE=0 after pytest's summary", "D", write({"src/tinyledger/__init__.py": PKG_FORGED_LOG}),
           expected="unresolved, forged markers neutralized"),
    Attack("huge-output", "package __init__ prints 200 MB to stdout (atexit, once pytest stopped capturing)", "R",
           write({"src/tinyledger/__init__.py": PKG_SHOUT}), expected="unresolved, output bounded"),
    # the test files themselves
    Attack("edit-test-file", "rewrites the failing test to expect what the unfixed code returns", "D",
           write({"tests/test_ledger.py": tinyledger._TEST_LEDGER_V0 + LEDGER_TEST_LIE})),
    Attack("delete-test-file", "deletes the target test file", "A", lambda w: (w / "tests/test_money.py").unlink()),
    Attack("rename-test-file", "renames the target test file away", "A",
           lambda w: (w / "tests/test_money.py").rename(w / "tests/test_money_old.py")),
    Attack("tests-dir-symlink", "tests/ replaced by a symlink to a directory of look-alike passing tests", "D",
           tests_dir_symlink),
    Attack("dev-null-symlink", "the target test file becomes a symlink to /dev/null", "D",
           link("tests/test_ledger.py", "/dev/null")),
    Attack("gitattributes-encoding", ".gitattributes makes git write the reset test files as UTF-16", "D",
           build=lambda repo, base, work: new_file(".gitattributes", "tests/*.py working-tree-encoding=UTF-16\n")),
    # writes the safety check should stop: .git, symlink escapes
    Attack("git-config-fsmonitor", r"\x1c in a line hides '--- a/.git/config' headers: core.fsmonitor plants "
           "a conftest", "D", build=hidden_git_config(
               "tools/fsmonitor.sh", FSMONITOR_HOOK, "fsmonitor = sh /testbed/tools/fsmonitor.sh", "\x1c")),
    Attack("git-config-hookspath", r"\x85 in a line hides .git/config headers: core.hooksPath post-checkout "
           "plants a conftest", "A", build=hidden_git_config(
               "tools/hooks/post-checkout", POST_CHECKOUT_HOOK, "hooksPath = /testbed/tools/hooks", "\x85")),
    Attack("git-config-vt", r"\x0b in a line hides .git/config headers: core.hooksPath post-checkout plants a "
           "conftest", "D", build=hidden_git_config(
               "tools/hooks/post-checkout", POST_CHECKOUT_HOOK, "hooksPath = /testbed/tools/hooks", "\x0b")),
    Attack("symlink-chain", "l2 -> ., l1 -> l2/.. then a write through l1 into ~/.gitconfig", "D",
           build=symlink_chain),
    Attack("binary-symlink-etc", "a symlink to /etc added by a GIT binary patch", "A", build=binary_symlink),
]


# ---- the run ---------------------------------------------------------------------------------------


def _cli(cmd: list[str], cwd: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _check(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0 or "Traceback" in done.stdout + done.stderr:
        raise RuntimeError(f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def build_predictions(attacks: list[Attack], repo: Path, records: dict[str, dict], scratch: Path) -> list[dict]:
    preds = []
    for attack in attacks:
        record = records[attack.target]
        work = scratch / attack.name
        if attack.build is not None:
            patch = attack.build(repo, record["base_commit"], work)
        else:
            assert attack.edit is not None
            patch = diff_at(repo, record["base_commit"], work, attack.edit, binary=attack.binary,
                            attributes=attack.attributes)
        preds.append({"instance_id": record["instance_id"], "model_name_or_path": attack.model, "model_patch": patch})
    return preds


def _observed(attack: Attack, result: dict | None, log_dir: Path | None) -> tuple[str, str]:
    if result is None:
        return "missing", "no eval result stored"
    status, reason = result["status"], result["reason"]
    output = log_dir / "test_output.txt" if log_dir else None
    log = output.read_text(errors="replace") if output is not None and output.is_file() else ""
    report_file = log_dir / "report.json" if log_dir else None
    applied = ""
    if report_file is not None and report_file.is_file():
        body = json.loads(report_file.read_text()).get(result["instance_id"], {})
        applied = f"applied {body.get('patch_successfully_applied')}"
    notes = [reason or "no reason", applied]
    markers = [line for line in log.splitlines() if line.startswith("FACTORY_EXIT_CODE=")]
    if markers:
        notes.append(f"last marker {markers[-1].split('=', 1)[1]} of {len(markers)}")
    if attack.name.startswith("git-config") or attack.name == "symlink-chain":
        notes.append("git hook ran" if HOOK_MARK in log else "no git hook ran")
    observed = status
    if "plugin" in attack.expected:
        observed += ", plugin loaded" if LOADED_MARK in log else ", plugin not loaded"
    if attack.name == "forged-log":  # the forgery reached the log, with SWE-bench's marker made harmless
        neutral = f"{SWEBENCH_MARK_NEUTRAL}End Test Output" in log.splitlines()
        observed += ", forged markers neutralized" if neutral else ", forged markers NOT neutralized"
        notes.append(f"{sum(line.startswith('PASSED tests/') for line in log.splitlines())} PASSED lines in the log")
    if attack.name == "huge-output":
        size = output.stat().st_size if output is not None and output.is_file() else 0
        observed += ", output bounded" if size < OUTPUT_BOUND else ", output NOT bounded"
        notes.append(f"test_output.txt {size / 1e6:.1f} MB")
    return observed, "; ".join(n for n in notes if n)[:200]


def _results(cmd: list[str], cwd: Path, run_id: str, db: Path) -> dict[tuple[str, str], dict]:
    done = _cli(cmd, cwd, "eval-status", run_id, "--json", "--db", str(db))
    _check(done, f"factory eval-status {run_id}")
    return {(r["model"], r["instance_id"]): r for r in json.loads(done.stdout)["results"]}


def hostile_prediction_rows(cmd: list[str], root: Path, attacks: list[Attack] | None = None) -> list[FaultRow]:
    attacks = ATTACKS if attacks is None else attacks
    repo = tinyledger.create(root / "tinyledger")
    db, home = root / "predictions.duckdb", root / "home"
    where = ("--db", str(db), "--home", str(home))
    _check(_cli(cmd, root, "mine", "--git", str(repo), *where), "factory mine")
    _check(_cli(cmd, root, "build", "--workers", "2", *where), "factory build")
    dataset = root / "dataset.jsonl"
    _check(_cli(cmd, root, "export", "--out", str(dataset), "--db", str(db)), "factory export")
    by_file = {}
    for line in dataset.read_text().splitlines():
        record = json.loads(line)
        by_file[record["FAIL_TO_PASS"][0].split("::")[0]] = record
    records = {key: by_file[path] for key, path in TARGETS.items()}

    preds = build_predictions(attacks, repo, records, root / "patches")
    preds_path = root / "preds.jsonl"
    preds_path.write_text("".join(json.dumps(p) + "\n" for p in preds))
    reports = root / "reports"
    before = snapshot(db)
    started = time.monotonic()
    graded = _cli(cmd, root, "eval", "--predictions", str(preds_path), "--dataset", str(dataset), "--run-id",
                  RUN_ID, "--report-dir", str(reports), "--workers", "2", "--timeout", str(RUN_TIMEOUT), "--db",
                  str(db))
    seconds = time.monotonic() - started
    _check(graded, "factory eval of the hostile predictions")
    gold = _cli(cmd, root, "eval", "--predictions", "gold", "--dataset", str(dataset), "--run-id", GOLD_RUN_ID,
                "--report-dir", str(reports), "--workers", "2", "--timeout", str(RUN_TIMEOUT), "--db", str(db))
    _check(gold, "factory eval of the gold predictions")
    lost = rows_lost(before, snapshot(db))

    results = _results(cmd, root, RUN_ID, db)
    rows = []
    for attack in attacks:
        record = records[attack.target]
        result = results.get((attack.model, record["instance_id"]))
        log_dir = Path(result["log_dir"]) if result and result["log_dir"] else None
        observed, detail = _observed(attack, result, log_dir)
        rows.append(FaultRow(attack.scenario, attack.expected, observed, lost, detail))
    summary_path = reports / f"gold.{GOLD_RUN_ID}.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    gold_observed = (f"resolved {summary.get('resolved_instances')}/{summary.get('total_instances')}"
                     if summary else "no summary")
    rows.append(FaultRow("gold predictions on the demo dataset", "resolved 3/3", gold_observed, lost,
                         f"{len(attacks)} attacks graded in {seconds:.0f} s (2 workers, one factory eval)"))
    return rows
