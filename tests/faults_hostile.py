"""Fault scenarios at the door: hostile or odd *repositories* meet ``factory mine`` / ``build`` / ``export``.

Each kind must end in a stated outcome — a candidate that validates, a named skip reason, or a clear
error with no traceback — and never lose what the store already holds. The kinds:

* one repository, ``acme/hostile``, whose history holds a commit per kind that should reach the build
  (a Latin-1 commit message with an ``encoding`` header and one in raw bytes with none, file names with
  spaces, binary files, symlinks retargeted and added, a Git LFS pointer changed — git-lfs is not installed and
  must not be needed) and the kinds mining must refuse by name (a file name that is not UTF-8, a
  submodule added); the refused commits stay in the tree under every later candidate, so the build also
  proves that such a tree does not break images. One ``factory build --workers 2`` builds it all;
* then, into the same DB, after a snapshot: an empty repository, a bare repository whose HEAD names a
  branch that does not exist, and a repository with fixes over the diff-size limit. Each is mined with
  the real CLI and must leave every stored row and verdict alone.

Observed outcomes are computed from exit codes, the CLI's output, the DB (``tests.faults.statuses``) and
the exported JSONL — never copied from the expected ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from examples.tinyledger import _Git
from factory.store import Store
from tests.faults import FaultRow, Snapshot, rows_lost, snapshot, statuses
from tests.repo_fixtures import pyproject

PYPROJECT = pyproject("hostile")

LFS_ATTRIBUTES = "*.bin filter=lfs diff=lfs merge=lfs -text\n"
DIFF_LIMIT = 1_000_000
"""The default of ``Settings.max_diff_bytes``; the bulky repository's fixes are sized around it."""
SMALL_LIMIT = 100_000
"""What the bulky repository is first mined with (``--max-diff-bytes``)."""


def lfs_pointer(oid_seed: str, size: int) -> str:
    """A Git LFS pointer file, as ``git lfs`` would commit it (the real object is never there)."""
    oid = hashlib.sha256(oid_seed.encode()).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"


BLOB_V0 = bytes(range(256)) + b"\x00\xff" * 64
BLOB_V1 = bytes(reversed(range(256))) + b"\x00\xfe" * 64

# Scenario names, one per kind.
MESSAGE = "hostile repo: non-UTF-8 commit message"
FILE_NAME = "hostile repo: non-UTF-8 file name"
SPACES = "hostile repo: spaces in source and test file names"
HUGE = "hostile repo: huge diff"
BINARY = "hostile repo: binary files in the fix"
SYMLINK = "hostile repo: symlinks retargeted and added by the fix"
SUBMODULE = "hostile repo: submodule added by a fix"
LFS = "hostile repo: Git LFS pointer files (no git-lfs)"
EMPTY = "hostile repo: empty repository (no commits)"
NO_HEAD = "hostile repo: no default branch (HEAD names a missing branch)"


class _RepoGit(_Git):
    """``_Git`` that also writes bytes, symlinks (``Link``), non-UTF-8 names (bytes keys) and deletions."""

    def write(self, files: dict) -> None:  # type: ignore[override]
        for rel, content in files.items():
            path = self.root / (os.fsdecode(rel) if isinstance(rel, bytes) else rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or (content is None and path.exists()):
                path.unlink()
            if content is None:
                continue
            if isinstance(content, Link):
                path.symlink_to(content.target)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def run_bytes(self, *args: str, data: bytes) -> str:
        env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        out = subprocess.run(["git", *args], cwd=self.root, env=env, input=data, capture_output=True, check=True)
        return out.stdout.decode().strip()

    def commit_raw_message(self, message: bytes, files: dict) -> str:
        """Commit with ``message`` stored byte for byte and no ``encoding`` header (``git commit`` would
        re-encode invalid UTF-8 as Latin-1; real histories hold such raw commits anyway)."""
        self.write(files)
        self("add", "-A")
        tree = self("write-tree").strip()
        parent = self("rev-parse", "HEAD").strip()
        stamp = 1709283600 + 3600 * self.tick  # 2024-03-01T09:00Z + one hour a commit, like _Git's clock
        who = f"Ada Example <ada@example.com> {stamp} +0000".encode()
        body = b"tree %s\nparent %s\nauthor %s\ncommitter %s\n\n" % (tree.encode(), parent.encode(), who, who)
        sha = self.run_bytes("hash-object", "-t", "commit", "-w", "--stdin", data=body + message)
        self("update-ref", "refs/heads/main", sha)
        self.tick += 1
        return sha


@dataclass(frozen=True)
class Link:
    target: str


@dataclass
class HostileRepo:
    path: Path
    fixes: dict[str, str]
    """scenario -> sha of the commit that embodies it."""


def make_hostile_repo(root: Path, helper: Path) -> HostileRepo:
    """``acme/hostile``: one commit per kind (see the module docstring); ``helper`` becomes a submodule."""
    g = _RepoGit(root)
    root.mkdir(parents=True)
    g("init", "-q", "-b", "main")
    g("remote", "add", "origin", "https://git.example.com/acme/hostile.git")
    fixes: dict[str, str] = {}

    def head() -> str:
        return g("rev-parse", "HEAD").strip()

    g.commit("Initial import", {
        "pyproject.toml": PYPROJECT,
        ".gitattributes": LFS_ATTRIBUTES,
        "assets/model.bin": lfs_pointer("model v1", 1024),
        "src/hostile/__init__.py": "def ok():\n    return 1\n",
        "src/hostile/v1.py": "VERSION = 1\n",
        "src/hostile/current.py": Link("v1.py"),
        "src/hostile/blob.dat": BLOB_V0,
        "src/hostile/rate table.json": '{"rate": 1}\n',
        "src/hostile/rates.py": (
            "import json\nfrom pathlib import Path\n\n\ndef rate():\n"
            "    return json.loads((Path(__file__).parent / 'rate table.json').read_text())['rate']\n"),
        "src/hostile/model.py": (
            "from pathlib import Path\n\nPOINTER = Path(__file__).resolve().parents[2] / 'assets' / 'model.bin'\n\n\n"
            "def model_size():\n    \"\"\"Size the LFS pointer declares (the object itself is never fetched).\"\"\"\n"
            "    for line in POINTER.read_text().splitlines():\n        if line.startswith('size '):\n"
            "            return int(line.split()[1])\n    return None\n"),
        "src/hostile/blob.py": (
            "from pathlib import Path\n\n\ndef blob():\n"
            "    return (Path(__file__).parent / 'blob.dat').read_bytes()\n"),
        "tests/test_ok.py": "from hostile import ok\n\n\ndef test_ok():\n    assert ok() == 1\n",
    })

    # (1) a Latin-1 message with an encoding header, then raw Latin-1 bytes with none
    g.write({
        "src/hostile/stats.py": "def mean(values):\n    return sum(values) / len(values)\n",
        "tests/test_stats.py": "from hostile.stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2]) == 1.5\n",
    })
    g("add", "-A")
    message = root.parent / "latin1-message.txt"
    message.write_bytes("Moyenne exacte: café naïve\n\nFixes #11: la moyenne était tronquée.\n".encode("latin-1"))
    g("-c", "i18n.commitEncoding=latin1", "commit", "-q", "-F", str(message))
    g.tick += 1
    fixes[MESSAGE + " (latin1 header)"] = head()
    fixes[MESSAGE + " (raw bytes)"] = g.commit_raw_message(
        "Fold na\xefve r\xe9sum\xe9 text\n\nRaw Latin-1 bytes and no encoding header.\n".encode("latin-1"),
        {
            "src/hostile/text.py": "def fold(text):\n    return text.casefold()\n",
            "tests/test_text.py": "from hostile.text import fold\n\n\ndef test_fold():\n"
                                  "    assert fold('Stra\\u00dfe') == 'strasse'\n",
        },
    )

    # (2) a file whose name is not UTF-8 (Latin-1 bytes), with a test and a source change
    g.commit("Add the resume names", {
        b"tests/data/r\xe9sum\xe9.txt": "Ada\n",
        "src/hostile/names.py": "def names(path):\n    return path.read_text().split()\n",
        "tests/test_names.py": (
            "from pathlib import Path\n\nfrom hostile.names import names\n\n\ndef test_names():\n"
            "    data = Path(__file__).parent / 'data'\n    assert [names(p) for p in data.iterdir()] == [['Ada']]\n"),
    })
    fixes[FILE_NAME] = head()

    # (7) a submodule added by a fix (with a test and a source change)
    g("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(helper), "vendor/helper")
    g.commit("Vendor the helper library", {
        "src/hostile/vendored.py": "def helper_path():\n    return 'vendor/helper'\n",
        "tests/test_vendored.py": (
            "from hostile.vendored import helper_path\n\n\ndef test_helper_path():\n"
            "    assert helper_path() == 'vendor/helper'\n"),
    })
    fixes[SUBMODULE] = head()

    # (3) source and test files with spaces in their names (and a folder with one)
    g.commit("Raise the rate in the rate table", {
        "src/hostile/rate table.json": '{"rate": 2}\n',
        "tests/unit cases/test_rate table.py": "from hostile.rates import rate\n\n\ndef test_rate():\n"
                                               "    assert rate() == 2\n",
    })
    fixes[SPACES] = head()

    # (5) a binary source file changed, a binary test fixture added
    g.commit("Refresh the blob", {
        "src/hostile/blob.dat": BLOB_V1,
        "tests/data/expected-blob.dat": BLOB_V1,
        "tests/test_blob.py": (
            "from pathlib import Path\n\nfrom hostile.blob import blob\n\n\ndef test_blob():\n"
            "    assert blob() == (Path(__file__).parent / 'data' / 'expected-blob.dat').read_bytes()\n"),
    })
    fixes[BINARY] = head()

    # (6) a symlink inside the repository retargeted by the gold patch, one added by the test patch (its
    # target climbs out of tests/ with `..`, yet stays inside the repository)
    g.commit("Point current at v2", {
        "src/hostile/v2.py": "VERSION = 2\n",
        "src/hostile/current.py": Link("v2.py"),
        "tests/data/version.txt": Link("../../src/hostile/v2.py"),
        "tests/test_version.py": (
            "from pathlib import Path\n\nfrom hostile.current import VERSION\n\n\ndef test_version():\n"
            "    assert VERSION == 2\n\n\ndef test_version_link():\n"
            "    assert (Path(__file__).parent / 'data' / 'version.txt').read_text() == 'VERSION = 2\\n'\n"),
    })
    fixes[SYMLINK] = head()

    # (8) a Git LFS pointer changed by the fix (the test reads what git stores: the pointer)
    g.commit("Ship the larger model", {
        "assets/model.bin": lfs_pointer("model v2", 2048),
        "tests/test_model.py": "from hostile.model import model_size\n\n\ndef test_model_size():\n"
                               "    assert model_size() == 2048\n",
    })
    fixes[LFS] = head()
    return HostileRepo(root, fixes)


def make_helper_repo(root: Path) -> Path:
    g = _Git(root)
    root.mkdir(parents=True)
    g("init", "-q", "-b", "main")
    g.commit("Helper", {"helper.py": "def help():\n    return 'help'\n"})
    return root


def make_empty_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    _Git(root)("init", "-q", "-b", "main")
    return root


def make_headless_repo(root: Path, work: Path) -> Path:
    """A bare repository whose HEAD says ``refs/heads/master`` while only ``dev`` and ``feature`` exist."""
    g = _Git(work)
    work.mkdir(parents=True)
    g("init", "-q", "-b", "dev")
    g.commit("Initial import", {"src/app.py": "X = 1\n", "tests/test_app.py": "def test_x():\n    pass\n"})
    g.commit("Fix X (#4)", {"src/app.py": "X = 2\n", "tests/test_app.py": "def test_x():\n    assert 2\n"})
    g("branch", "feature")
    subprocess.run(["git", "init", "-q", "--bare", str(root)], check=True, capture_output=True)
    g("push", "-q", str(root), "dev", "feature")
    subprocess.run(["git", "--git-dir", str(root), "symbolic-ref", "HEAD", "refs/heads/master"], check=True)
    return root


def make_bulky_repo(root: Path) -> tuple[Path, dict[str, int]]:
    """Two fixes with tests: one diff over the default 1 MB limit, one between ``SMALL_LIMIT`` and it."""
    g = _Git(root)
    root.mkdir(parents=True)
    g("init", "-q", "-b", "main")
    g.commit("Initial import", {"src/bulky/__init__.py": "", "tests/test_bulky.py": "def test_x():\n    pass\n"})

    def table(rows: int) -> str:
        return "".join(f"ROW_{i:07d} = {i * 7919 % 1000003}\n" for i in range(rows))

    g.commit("Regenerate the huge lookup table", {
        "src/bulky/huge.py": table(56_000),
        "tests/test_huge.py": "from bulky.huge import ROW_0000001\n\n\ndef test_row():\n    assert ROW_0000001\n",
    })
    g.commit("Add the medium lookup table", {
        "src/bulky/medium.py": table(12_000),
        "tests/test_medium.py": "from bulky.medium import ROW_0000001\n\n\ndef test_row():\n    assert ROW_0000001\n",
    })
    sizes = {}
    for subject_sha in g("log", "--format=%H %s").splitlines():
        sha, subject = subject_sha.split(" ", 1)
        if subject != "Initial import":
            diff = subprocess.run(["git", "diff", "--binary", "--full-index", f"{sha}~1", sha], cwd=root,
                                  capture_output=True, check=True).stdout
            sizes[subject] = len(diff)
    return root, sizes


# --- running the CLI and reading what it said ---------------------------------------------------------

@dataclass
class Ran:
    args: tuple[str, ...]
    returncode: int
    output: str
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.output


def _run(factory_cmd: list[str], cwd: Path, *args: str, timeout: float = 900) -> Ran:
    env = {k: v for k, v in os.environ.items() if k not in ("FACTORY_DB", "FACTORY_HOME", "FACTORY_MAX_DIFF_BYTES")}
    env["COLUMNS"] = "250"  # one report line per line, as a log would keep it
    started = time.monotonic()
    done = subprocess.run([*factory_cmd, *args], cwd=cwd, env=env, capture_output=True, timeout=timeout)
    output = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    return Ran(tuple(args), done.returncode, output, time.monotonic() - started)


_SKIPPED = re.compile(r"skipped: (.+)$", re.M)
_NEW = re.compile(r"(\d+) new candidate\(s\)")


def skip_counts(output: str) -> dict[str, int]:
    """``{reason: count}`` from ``factory mine``'s report line (``skipped: a: 1, b: 2`` or ``none``)."""
    match = _SKIPPED.search(output)
    if not match or match.group(1).strip() == "none":
        return {}
    counts = {}
    for part in match.group(1).split(", "):
        reason, _, count = part.partition(": ")
        if count.strip().isdigit():
            counts[reason.strip()] = int(count)
    return counts


def new_candidates(output: str) -> int | None:
    match = _NEW.search(output)
    return int(match.group(1)) if match else None


def _failed_run(ran: Ran) -> str:
    """How a CLI call that should have worked went wrong, or "" when it worked."""
    if ran.traceback:
        return f"traceback in `factory {ran.args[0]}`"
    if ran.returncode != 0:
        tail = " / ".join(line.strip() for line in ran.output.strip().splitlines()[-2:])
        return f"`factory {ran.args[0]}` exit {ran.returncode}: {tail[:160]}"
    return ""


# --- observing each kind ---------------------------------------------------------------------------------

def _skip_observed(sha: str, reason: str, mined: Ran, by_fix: dict[str, str], labels: dict[str, str]) -> str:
    """``skipped(<reason>)`` when the commit is not stored and the mine report names the reason;
    otherwise what did happen to it."""
    if sha in by_fix:
        return f"mined as {by_fix[sha]}: {labels.get(by_fix[sha], 'no instance')}"
    counts = skip_counts(mined.output)
    if counts.get(reason):
        stated = f"  {reason}: " in mined.output
        return f"skipped({reason})" + ("" if stated else ", reason not explained")
    return f"not stored; report says skipped {counts}"


def _valid_observed(sha: str, by_fix: dict[str, str], labels: dict[str, str], failure: str) -> str:
    if sha not in by_fix:
        return "not mined"
    label = labels.get(by_fix[sha], "no instance")
    return f"{label} ({failure})" if failure and label != "valid" else label


def _message_observed(repo: HostileRepo, by_fix: dict[str, str], labels: dict[str, str], db: Path,
                      jsonl: Path, failure: str) -> tuple[str, str]:
    """Both message commits: their verdicts, and whether their text reached the DB and the JSONL as valid
    UTF-8 — the header's Latin-1 decoded (``café``), raw bytes as U+FFFD."""
    header_sha = repo.fixes[MESSAGE + " (latin1 header)"]
    raw_sha = repo.fixes[MESSAGE + " (raw bytes)"]
    verdicts = [_valid_observed(s, by_fix, labels, failure) for s in (header_sha, raw_sha)]
    stored: dict[str, str] = {}
    if db.exists():
        with Store(db, read_only=True, lock_wait=60) as store:
            stored = {c.fix_commit: c.problem_statement for c in store.candidates()}
    exported: dict[str, str] = {}
    jsonl_state = "no JSONL"
    if jsonl.exists():
        raw = jsonl.read_bytes()
        try:
            text = raw.decode("utf-8")
            jsonl_state = "JSONL valid UTF-8"
        except UnicodeDecodeError as exc:
            text, jsonl_state = raw.decode("utf-8", "replace"), f"JSONL not UTF-8 ({exc.reason})"
        for line in text.splitlines():
            if line.strip():
                record = json.loads(line)
                exported[record["instance_id"]] = record["problem_statement"]

    def text_state(statement: str | None, want: str) -> str:
        if statement is None:
            return "missing"
        if re.search(r"[\ud800-\udfff]", statement):
            return "lone surrogates"
        return want if want in statement else f"{statement.splitlines()[0][:40]!r}"

    header_want, raw_want = "Moyenne exacte: café naïve", "Fold na\ufffdve r\ufffdsum\ufffd text"
    db_state = [text_state(stored.get(header_sha), header_want), text_state(stored.get(raw_sha), raw_want)]
    ex_state = [text_state(exported.get(by_fix.get(header_sha, "")), header_want),
                text_state(exported.get(by_fix.get(raw_sha, "")), raw_want)]
    words = {header_want: "café", raw_want: "U+FFFD"}
    observed = (f"{verdicts[0]}, {verdicts[1]}; DB: {', '.join(words.get(s, s) for s in db_state)}; "
                f"{jsonl_state}: {', '.join(words.get(s, s) for s in ex_state)}")
    detail = f"statements in DB: {[(stored.get(s) or '-').splitlines()[0] for s in (header_sha, raw_sha)]}"
    return observed, detail


def _error_row(scenario: str, expected: str, before: Snapshot, db: Path, observed: str, detail: str) -> FaultRow:
    return FaultRow(scenario, expected, observed, rows_lost(before, snapshot(db)), detail)


def hostile_repo_rows(workdir: Path, factory_cmd: list[str]) -> list[FaultRow]:
    """Build every hostile repository under ``workdir``, run the real CLI on each, one row per kind."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    db, home = workdir / "hostile.duckdb", workdir / "home"
    where = ("--db", str(db), "--home", str(home))
    helper = make_helper_repo(workdir / "helper")
    repo = make_hostile_repo(workdir / "hostile", helper)
    rows: list[FaultRow] = []

    # --- acme/hostile: mine, build (2 workers), export -------------------------------------------------
    mined = _run(factory_cmd, workdir, "mine", "--git", str(repo.path), *where)
    built = export = None
    failure = _failed_run(mined)
    after_mine = snapshot(db)
    if not failure:
        built = _run(factory_cmd, workdir, "build", *where, "--workers", "2")
        failure = _failed_run(built)
    jsonl = workdir / "hostile.jsonl"
    if not failure:
        export = _run(factory_cmd, workdir, "export", "--out", str(jsonl), "--db", str(db))
        failure = _failed_run(export)
    lost = rows_lost(after_mine, snapshot(db))  # the build and export keep every mined candidate
    labels = statuses(db) if db.exists() else {}
    with Store(db, read_only=True, lock_wait=60) if db.exists() else _NoStore() as store:
        by_fix = {c.fix_commit: c.instance_id for c in store.candidates()}
    timing = (f"mine {mined.seconds:.1f} s, build {built.seconds if built else 0:.0f} s (2 workers), "
              f"{len(by_fix)} candidate(s)")

    observed, detail = _message_observed(repo, by_fix, labels, db, jsonl, failure)
    rows.append(FaultRow(MESSAGE, "valid, valid; DB: café, U+FFFD; JSONL valid UTF-8: café, U+FFFD", observed,
                         lost, detail + f"; {timing}"))
    rows.append(FaultRow(FILE_NAME, "skipped(non_utf8_path)",
                         _skip_observed(repo.fixes[FILE_NAME], "non_utf8_path", mined, by_fix, labels),
                         lost, detail="tests/data/r\\xe9sum\\xe9.txt stays in the tree under every later (valid) fix"))
    spaces_iid = by_fix.get(repo.fixes[SPACES], "")
    rows.append(FaultRow(SPACES, "valid", _valid_observed(repo.fixes[SPACES], by_fix, labels, failure),
                         lost, detail=_fail_to_pass(db, spaces_iid)))
    rows.append(FaultRow(BINARY, "valid", _valid_observed(repo.fixes[BINARY], by_fix, labels, failure),
                         lost, _patch_facts(db, by_fix.get(repo.fixes[BINARY], ""), "GIT binary patch")))
    rows.append(FaultRow(SYMLINK, "valid", _valid_observed(repo.fixes[SYMLINK], by_fix, labels, failure),
                         lost, _patch_facts(db, by_fix.get(repo.fixes[SYMLINK], ""), " 120000") + "; "
                         + _fail_to_pass(db, by_fix.get(repo.fixes[SYMLINK], ""))))
    rows.append(FaultRow(SUBMODULE, "skipped(submodule_change)",
                         _skip_observed(repo.fixes[SUBMODULE], "submodule_change", mined, by_fix, labels),
                         lost, detail="the gitlink vendor/helper stays in the tree under the later (valid) fixes"))
    lfs_cli = shutil.which("git-lfs")
    rows.append(FaultRow(LFS, "valid", _valid_observed(repo.fixes[LFS], by_fix, labels, failure),
                         lost, f"git-lfs on this host: {lfs_cli or 'none'}; "
                         + _patch_facts(db, by_fix.get(repo.fixes[LFS], ""), "oid sha256:")))

    # --- into the same DB, after a snapshot: the error cases ------------------------------------------------
    before = snapshot(db)

    empty = make_empty_repo(workdir / "empty")
    ran = _run(factory_cmd, workdir, "mine", "--git", str(empty), *where)
    observed = _failed_run(ran) or (
        f"skipped({', '.join(skip_counts(ran.output)) or 'nothing'}), exit {ran.returncode}"
        + (", stated 'no commits'" if "no commits" in ran.output else ", no statement"))
    rows.append(_error_row(EMPTY, "skipped(empty_repository), exit 0, stated 'no commits'", before, db, observed,
                           ran.output.strip().splitlines()[-1][:120] if ran.output.strip() else "no output"))

    headless = make_headless_repo(workdir / "headless.git", workdir / "headless-work")
    ran = _run(factory_cmd, workdir, "mine", "--git", str(headless), *where)
    error, _, fix = ran.output.partition("fix:")
    named = [b for b in ("dev", "feature") if re.search(rf"\b{b}\b", error)]
    if ran.traceback:
        observed = "traceback"
    elif ran.returncode == 0:
        observed = f"exit 0: {' '.join(ran.output.split())[:100]}"
    else:
        observed = (f"error exit {ran.returncode}" + (f", names branches {' and '.join(named)}" if named else "")
                    + (", fix says --branch" if "--branch" in fix else ""))
    with_branch = _run(factory_cmd, workdir, "mine", "--git", str(headless), "--branch", "dev", *where)
    observed += "; --branch dev: " + (_failed_run(with_branch) or f"{new_candidates(with_branch.output)} new")
    project = workdir / "branch.toml"  # the same choice in a project file, through the mine flow
    project.write_text(f'db = "branch.duckdb"\nhome = "branch-home"\n[[sources]]\ngit = "{headless}"\n'
                       'branch = "dev"\n')
    via_project = _run(factory_cmd, workdir, "mine", "--config", str(project))
    observed += "; factory.toml branch = dev: " + (
        _failed_run(via_project) or f"{len(snapshot(workdir / 'branch.duckdb').candidates)} new")
    rows.append(_error_row(
        NO_HEAD, "error exit 2, names branches dev and feature, fix says --branch; --branch dev: 1 new; "
        "factory.toml branch = dev: 1 new", before, db,
        observed, " ".join(ran.output.split())[:160]))
    before = snapshot(db)  # the --branch run added a candidate on purpose

    bulky, sizes = make_bulky_repo(workdir / "bulky")
    strict = _run(factory_cmd, workdir, "mine", "--git", str(bulky), "--max-diff-bytes", str(SMALL_LIMIT), *where)
    default = _run(factory_cmd, workdir, "mine", "--git", str(bulky), *where)
    parts = []
    for label, ran in ((f"--max-diff-bytes {SMALL_LIMIT}", strict), ("default", default)):
        problem = _failed_run(ran)
        if problem:
            parts.append(f"{label}: {problem}")
            continue
        counts = skip_counts(ran.output)
        big = counts.get("diff_too_large", 0)
        parts.append(f"{label}: skipped(diff_too_large) x{big}, {new_candidates(ran.output)} new"
                     + ("" if "raise --max-diff-bytes" in ran.output or not big else ", reason not explained"))
    rows.append(_error_row(
        HUGE, f"--max-diff-bytes {SMALL_LIMIT}: skipped(diff_too_large) x2, 0 new; "
              "default: skipped(diff_too_large) x1, 1 new", before, db, "; ".join(parts),
        "diff bytes: " + ", ".join(f"{s!r} {n:,}" for s, n in sizes.items())
        + f"; default limit {DIFF_LIMIT:,}"))

    rows.sort(key=lambda r: SCENARIOS.index(r.scenario))
    rows[0].detail += f"; whole function {time.monotonic() - started:.0f} s"
    return rows


SCENARIOS = [MESSAGE, FILE_NAME, SPACES, HUGE, BINARY, SYMLINK, SUBMODULE, LFS, EMPTY, NO_HEAD]


def _patch_facts(db: Path, instance_id: str, needle: str) -> str:
    """Which stored patch of the candidate holds ``needle`` (a binary hunk, a symlink mode, an LFS pointer)."""
    if not instance_id or not db.exists():
        return "not mined"
    with Store(db, read_only=True, lock_wait=60) as store:
        cand = store.candidate(instance_id)
    where = [name for name, text in (("gold patch", cand.patch), ("test patch", cand.test_patch)) if needle in text]
    return f"{needle.strip()!r} in: {', '.join(where) or 'neither patch'}"


def _fail_to_pass(db: Path, instance_id: str) -> str:
    if not instance_id or not db.exists():
        return "not mined"
    with Store(db, read_only=True, lock_wait=60) as store:
        inst = store.instance(instance_id)
    return f"FAIL_TO_PASS {inst.fail_to_pass}" if inst else "no instance"


class _NoStore:
    """Stand-in when no DB was written: no candidates."""

    def __enter__(self) -> _NoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def candidates(self) -> list:
        return []
