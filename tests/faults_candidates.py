"""Fault scenarios inside test runs: hostile *tests* meet the sandbox and the grader, end to end.

One repository, ``acme/trap``, holds a candidate per hostile behaviour (a test that spins forever, a fork
bomb, a memory hog, a socket to the internet, a fake exit-code marker, a symlink out of the repository,
error2pass cases) next to an ordinary candidate that must come out ``valid`` from the same two-worker
build: the host and the other runs are unaffected. The real CLI mines and builds it; the verdicts, the
run logs and the instance image are then read back and compared with what the sandbox promises.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from factory.core.settings import Settings
from factory.docker.runtime import Sandbox, connect, run_sandboxed
from factory.store import Store
from tests.faults import FaultRow, rows_lost, snapshot, statuses
from tests.repo_fixtures import new_repo, pyproject

PYPROJECT = pyproject("trap")

RUN_TIMEOUT = 15
PIDS_LIMIT = 64
PROJECT_FILE = f"""\
[build]
workers = 2
runs_before = 1
runs_after = 2
run_timeout = {RUN_TIMEOUT}
pids_limit = {PIDS_LIMIT}
mem_limit = "512m"
infra_retries = 1
retry_delay = 1
"""

SHARED_F2P = [
    "tests/test_shared.py::TestHalf::test_half[odd value]", "tests/test_shared.py::TestHalf::test_half[x::y]",
    "tests/test_shared.py::TestHalf::test_zero", "tests/test_shared_neg.py::TestNegHalf::test_zero",
]
"""FAIL_TO_PASS of "Add shared": ``test_zero`` is defined once, in tests/halving.py, and inherited by two classes."""

# subject of the fix commit -> (scenario, expected outcome)
EXPECTED = {
    "Add double": ("hostile test: an ordinary fix built next to the others", "valid"),
    "Add spin": ("hostile test: while True (killed at the timeout)", "error(timeout)"),
    "Add swarm": ("hostile test: fork bomb (bounded by pids, killed at the timeout)", "error(timeout)"),
    "Add hog": ("hostile test: allocates 1 GiB (memory limit 512m)", "error(oom)"),
    "Add reach": ("hostile test: opens a socket to the internet", "rejected(fail2fail), socket blocked"),
    "Add shout": ("grading: fake FACTORY_EXIT_CODE=0 and PASSED lines, then fails",
                  "rejected(fail2fail), last marker 1"),
    "Add whisper": ("grading: fake marker then os._exit(0), no JUnit", "rejected(no_tests_ran)"),
    "Add loader": ("environment: third-party module missing before the fix, no recipe installs it "
                   "(an error2pass that rests on the environment is no rejection)", "build_failed(env_broken)"),
    "Add link": ("patch safety: test patch adds a symlink to /etc/passwd", "rejected(test_patch_failed)"),
    "Add triple": ("error2pass: no target test ran before the fix (collected after)", "rejected(error2pass)"),
    "Add quad": ("grading: the fix's own pytest.ini applies with the test patch", "valid"),
    "Add shared": ("node ids: inherited and parametrized tests keep the collecting file's ids, pytest accepts them",
                   "valid, " + ", ".join(SHARED_F2P)),
}


def make_trap_repo(root: Path) -> Path:
    g = new_repo(root, "acme/trap")
    g.commit("Initial import", {
        "pyproject.toml": PYPROJECT,
        "src/trap/__init__.py": "def ok():\n    return 1\n",
        "tests/test_ok.py": "from trap import ok\n\n\ndef test_ok():\n    assert ok() == 1\n",
        # imported by nothing until "Add loader": a hard dependency on a package no image has
        "src/trap/config.py": "import yaml_not_installed_anywhere\n\n\ndef load():\n    return None\n",
    })
    g.commit("Add double\n\nFixes #1: trap has no double().", {
        "src/trap/__init__.py": "def ok():\n    return 1\n\n\ndef double(x):\n    return 2 * x\n",
        "tests/test_double.py": "from trap import double\n\n\ndef test_double():\n    assert double(3) == 6\n",
    })
    g.commit("Add spin", {
        "src/trap/spin.py": "def spin():\n    while True:\n        pass\n",
        "tests/test_spin.py": "from trap.spin import spin\n\n\ndef test_spin():\n    spin()\n",
    })
    g.commit("Add swarm", {
        "src/trap/swarm.py": (
            "import os\n\n\ndef swarm():\n    while True:\n        try:\n            os.fork()\n"
            "        except OSError:\n            pass\n"),
        "tests/test_swarm.py": "from trap.swarm import swarm\n\n\ndef test_swarm():\n    swarm()\n",
    })
    g.commit("Add hog", {
        "src/trap/hog.py": "def size():\n    return 1024 ** 3\n",
        "tests/test_hog.py": (
            "from trap.hog import size\n\n\ndef test_hog():\n    ballast = bytearray(size())\n"
            "    assert len(ballast) == size()\n"),
    })
    g.commit("Add reach", {
        "src/trap/net.py": (
            "import socket\n\n\ndef reach(host, port):\n    try:\n"
            "        socket.create_connection((host, port), timeout=3).close()\n        return 'connected'\n"
            "    except OSError as exc:\n        return f'SOCKET-BLOCKED {type(exc).__name__}: {exc}'\n"),
        "tests/test_reach.py": (
            "from trap.net import reach\n\n\ndef test_reach():\n    result = reach('1.1.1.1', 53)\n"
            "    print(result)\n    assert result == 'connected', result\n"),
    })
    g.commit("Add shout", {
        "src/trap/shout.py": "def shout(text):\n    return text.upper()\n",
        "tests/test_shout.py": (
            "import os\n\nfrom trap.shout import shout\n\n\ndef test_shout():\n"
            "    os.write(1, b'\\nFACTORY_EXIT_CODE=0\\ntests/test_shout.py::test_shout PASSED\\n')\n"
            "    os.write(2, b'\\nFACTORY_EXIT_CODE=0\\n')\n"
            "    assert shout('a') == 'a'\n"),
    })
    g.commit("Add whisper", {
        "src/trap/whisper.py": "def whisper(text):\n    return text.lower()\n",
        "tests/test_whisper.py": (
            "import os\n\nfrom trap.whisper import whisper\n\n\ndef test_whisper():\n"
            "    os.write(1, b'\\nFACTORY_EXIT_CODE=0\\n')\n    os._exit(0)\n"),
    })
    g.commit("Add loader", {
        "src/trap/config.py": (
            "try:\n    import yaml_not_installed_anywhere\nexcept ImportError:\n"
            "    yaml_not_installed_anywhere = None\n\n\ndef load():\n    return {}\n"),
        "tests/test_config.py": "from trap.config import load\n\n\ndef test_load():\n    assert load() == {}\n",
    })
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "passwd").symlink_to("/etc/passwd")
    g.commit("Add link", {
        "src/trap/users.py": "def count(path):\n    return len(open(path).read().splitlines())\n",
        "tests/test_users.py": (
            "from pathlib import Path\n\nfrom trap.users import count\n\n\ndef test_count():\n"
            "    assert count(Path(__file__).parent / 'passwd') > 0\n"),
    })
    g("tag", "v0.1", "HEAD~3")  # tags on later history than most base commits: must not reach any image
    g("tag", "-a", "v0.2", "-m", "release 0.2")
    g.commit("Add triple", {
        # skipped before the fix (the module it needs is missing), run after: no target test ran before
        "src/trap/triple.py": "def triple(x):\n    return 3 * x\n",
        "tests/test_triple.py": (
            "import pytest\n\ntriple = pytest.importorskip('trap.triple').triple\n\n\n"
            "def test_triple():\n    assert triple(2) == 6\n"),
    })
    g.commit("Add shared", {
        # a base class in a helper module, inherited by two test classes; parametrized ids with a space and ::
        "src/trap/half.py": "def half(x):\n    return x / 2\n",
        "tests/halving.py": (
            "from trap.half import half\n\n\nclass Halving:\n    def test_zero(self):\n"
            "        assert half(0) == 0 and half(self.value) == self.value / 2\n"),
        "tests/test_shared.py": (
            "import pytest\n\nfrom tests.halving import Halving\n\n\nclass TestHalf(Halving):\n    value = 4\n\n"
            "    @pytest.mark.parametrize('n', [3, 8], ids=['odd value', 'x::y'])\n"
            "    def test_half(self, n):\n        from trap.half import half\n\n        assert half(n) * 2 == n\n"),
        "tests/test_shared_neg.py": (
            "from tests.halving import Halving\n\n\nclass TestNegHalf(Halving):\n    value = -6\n"),
        "tests/__init__.py": "",
    })
    g.commit("Add quad", {
        # the fix's own pytest configuration is part of the tests' environment (applied with the test patch)
        "pytest.ini": "[pytest]\npython_functions = check_*\n",
        "src/trap/quad.py": "def quad(x):\n    return 4 * x\n",
        "tests/test_quad.py": "def check_quad():\n    from trap.quad import quad\n\n    assert quad(2) == 8\n",
    })
    return root


def _cli(factory_cmd: list[str], cwd: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*factory_cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _after_log(store: Store, instance_id: str) -> str:
    runs = [v for v in store.validations(instance_id) if v.phase == "after"]
    return Path(runs[0].log_path).read_text(errors="replace") if runs and Path(runs[0].log_path).exists() else ""


def _observed(subject: str, label: str, store: Store, instance_id: str) -> tuple[str, str]:
    """The observed outcome for one candidate, plus what was measured on the way."""
    runs = store.validations(instance_id)
    seconds = max((v.seconds for v in runs), default=0.0)
    detail = f"{len(runs)} run(s) stored, longest {seconds:.1f} s"
    if subject in ("Add spin", "Add swarm") and label == "error(timeout)":
        timed = [v.seconds for v in runs if v.timed_out]
        detail = f"killed after {max(timed):.1f} s (timeout {RUN_TIMEOUT} s)" if timed else detail
        if timed and max(timed) > RUN_TIMEOUT + 10:
            label += f", killed late ({max(timed):.1f} s)"
    if subject == "Add reach":
        log = _after_log(store, instance_id)
        label += ", socket blocked" if "SOCKET-BLOCKED" in log else ", socket NOT blocked"
        detail = next((line.strip() for line in log.splitlines() if "SOCKET-BLOCKED" in line), detail)[:90]
    if subject == "Add shout":
        log = _after_log(store, instance_id)
        markers = [line for line in log.splitlines() if line.startswith("FACTORY_EXIT_CODE=")]
        label += f", last marker {markers[-1].split('=')[1]}" if markers else ", no marker"
        detail = f"{len(markers)} marker lines in the log, the fake ones first"
    if subject in ("Add loader", "Add triple", "Add link"):
        detail = store.instance(instance_id).detail[:90]
    if label == "build_failed":
        label += f"({store.instance(instance_id).reason})"
    if subject == "Add shared":
        inst = store.instance(instance_id)
        label = ", ".join([label, *inst.fail_to_pass])
        ids_log = Path(runs[0].log_path).parent / "node-ids.log" if runs else None
        checked = ids_log is not None and ids_log.is_file() and "collected" in ids_log.read_text(errors="replace")
        detail = f"node-id check {'ran' if checked else 'did NOT run'}; PASS_TO_PASS {len(inst.pass_to_pass)}"
    return label, detail


def sandbox_facts_row(image: str, base_commit: str, repo: Path) -> FaultRow:
    """What a test run of ``image`` sees: its user, its mounts, its git history, its input directory."""
    probe = (
        "id -u; echo MOUNTS; awk '$4 != \"/\" {print $4, $5}' /proc/self/mountinfo | sort; echo HISTORY; "
        "git -C /testbed log --all --format=%H; echo REFS; git -C /testbed for-each-ref --format='%(refname)'; "
        "echo REFLOG; git -C /testbed reflog --all | wc -l; echo WRITE; "
        "(echo x > /factory/probe.txt) 2>&1 | tail -1; echo GIT; (echo x >> /testbed/.git/config) 2>&1 | tail -1"
    )
    # As the eval contract runs tests: the container starts as root, the probe runs as the test user.
    as_tester = ["setpriv", "--reuid=factory", "--regid=factory", "--init-groups", "bash", "-c", probe]
    result = run_sandboxed(connect(), image, as_tester, {"input.txt": "read me"}, Sandbox(timeout=60))
    out = result.log
    uid = out.split("\n", 1)[0].strip()
    mounts = out.split("MOUNTS\n", 1)[1].split("HISTORY\n", 1)[0].split()
    binds = [m for m in mounts[1::2] if m not in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
             and not m.startswith(("/proc", "/sys", "/dev"))]
    history = out.split("HISTORY\n", 1)[1].split("REFS\n", 1)[0].split()
    expected_history = subprocess.run(["git", "-C", str(repo), "rev-list", base_commit], capture_output=True,
                                      text=True, check=True).stdout.split()
    refs = out.split("REFS\n", 1)[1].split("REFLOG\n", 1)[0].split()
    reflog = out.split("REFLOG\n", 1)[1].split("WRITE\n", 1)[0].strip()
    tags = subprocess.run(["git", "-C", str(repo), "tag"], capture_output=True, text=True).stdout.split()
    future = subprocess.run(["git", "-C", str(repo), "rev-list", f"{base_commit}..main"], capture_output=True,
                            text=True, check=True).stdout.split()
    write = out.split("WRITE\n", 1)[1].split("GIT\n", 1)[0].strip()
    git_write = out.split("GIT\n", 1)[1].strip()
    observed = "; ".join([
        f"uid {uid}" if uid != "0" else "uid 0 (root)",
        "no host mounts" if not binds else f"host mounts {binds}",
        "history = base_commit and its ancestors" if sorted(history) == sorted(expected_history)
        else f"history has {len(history)} commits, expected {len(expected_history)}",
        "no tags or reflog" if refs == ["refs/heads/main"] and reflog == "0" else f"refs {refs}, reflog {reflog}",
        "inputs read-only" if "Permission denied" in write else f"inputs writable ({write!r})",
        ".git read-only" if "Permission denied" in git_write else f".git writable ({git_write!r})",
    ])
    return FaultRow(
        "sandbox: user, mounts, future history, inputs",
        "uid 10001; no host mounts; history = base_commit and its ancestors; no tags or reflog; inputs read-only; "
        ".git read-only",
        observed,
        detail=f"{len(history)} commits in the image, {len(future)} later ones in the source and "
               f"{len(set(future) & set(history))} of them in the image; source tags {tags}; {len(mounts) // 2} mounts",
    )


ESCAPING_PATCH = """\
diff --git a/../outside.txt b/../outside.txt
new file mode 100644
--- /dev/null
+++ b/../outside.txt
@@ -0,0 +1 @@
+written outside the repository
"""


def escaping_prediction_row(workdir: Path, factory_cmd: list[str], db: Path, instance_id: str) -> FaultRow:
    """``factory eval`` of a model patch that climbs out of the repository: refused, graded unresolved."""
    preds = workdir / "escape.jsonl"
    preds.write_text(json.dumps({"instance_id": instance_id, "model_name_or_path": "hostile-agent",
                                 "model_patch": ESCAPING_PATCH}) + "\n")
    done = _cli(factory_cmd, workdir, "eval", "-p", str(preds), "--run-id", "escape", "--db", str(db),
                "--report-dir", str(workdir / "eval"), "--json")
    reports = list((workdir / "eval").rglob("report.json"))
    report = json.loads(reports[0].read_text())[instance_id] if reports else {}
    logs = "".join(p.read_text(errors="replace") for p in (workdir / "eval").rglob("*.log"))
    refused = "climbs out of the repository" in logs + done.stdout
    observed = ", ".join([
        "refused before applying" if refused else "NOT refused",
        "patch_successfully_applied false" if report.get("patch_successfully_applied") is False
        else f"patch_successfully_applied {report.get('patch_successfully_applied')}",
        "unresolved" if report.get("resolved") is False else f"resolved {report.get('resolved')}",
    ])
    return FaultRow("patch safety: factory eval of a model patch writing ../outside.txt",
                    "refused before applying, patch_successfully_applied false, unresolved", observed,
                    detail=f"exit {done.returncode}; {len(reports)} report(s)")


def hostile_candidate_rows(workdir: Path, factory_cmd: list[str]) -> list[FaultRow]:
    repo = make_trap_repo(workdir / "trap")
    db, home = workdir / "trap.duckdb", workdir / "home"
    (workdir / "factory.toml").write_text(PROJECT_FILE)
    where = ("--db", str(db), "--home", str(home))
    mined = _cli(factory_cmd, workdir, "mine", "--git", str(repo), *where)
    if mined.returncode != 0:
        raise RuntimeError(f"mining the trap repository failed:\n{mined.stdout}\n{mined.stderr}")
    before = snapshot(db)
    started = time.monotonic()
    built = _cli(factory_cmd, workdir, "build", "--config", str(workdir / "factory.toml"), *where)
    build_seconds = time.monotonic() - started
    if built.returncode != 0 or "Traceback" in built.stdout + built.stderr:
        raise RuntimeError(f"factory build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    lost = rows_lost(before, snapshot(db))
    labels = statuses(db)
    rows: list[FaultRow] = []
    settings = Settings(db_path=db, home=home)
    with Store(settings.db_path, read_only=True) as store:
        by_subject = {c.problem_statement.splitlines()[0]: c for c in store.candidates()}
        for subject, (scenario, expected) in EXPECTED.items():
            cand = by_subject.get(subject)
            if cand is None:
                rows.append(FaultRow(scenario, expected, "not mined", detail=f"subjects: {sorted(by_subject)}"))
                continue
            observed, detail = _observed(subject, labels.get(cand.instance_id, "missing"), store,
                                         cand.instance_id)
            rows.append(FaultRow(scenario, expected, observed, lost, detail))
        # a candidate from the middle of history: later commits exist in the source, must not in the image
        middle = by_subject["Add reach"]
        image = store.instance(middle.instance_id).image
    rows.append(sandbox_facts_row(image, middle.base_commit, repo))
    rows.append(escaping_prediction_row(workdir, factory_cmd, db, by_subject["Add double"].instance_id))
    rows[0].detail += f"; whole build {build_seconds:.0f} s, 2 workers"
    return rows
