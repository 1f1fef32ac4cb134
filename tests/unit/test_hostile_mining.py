"""Mining odd repositories (issue 7): non-UTF-8 text, diff-size limit, submodules, branches — no Docker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.core.errors import UserError
from factory.core.resolve import load
from factory.core.settings import MineSettings, Settings
from factory.mining.git_source import NotACandidate, full_diff, mine_git, unusable
from factory.mining.mirror import open_mirror, repo_slug
from factory.mining.split import split_diff
from factory.mining.text import commit_message, is_utf8, utf8_text
from factory.store import Store

FIX = {"src/app.py": "X = 2\n", "tests/test_app.py": "def test_x():\n    assert 2\n"}


# --- text -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "encoding", "expected"), [
    ("café", "utf-8", "café"),
    ("caf\udce9", "utf-8", "caf\ufffd"),  # GitPython's surrogateescape of a Latin-1 byte
    ("caf\udce9", "latin-1", "café"),
    ("a\ud800b", "utf-8", "a\ufffd\ufffd\ufffdb"),  # a lone surrogate that is no escaped byte
    (b"caf\xe9", "utf-8", "caf\ufffd"),
    (b"caf\xe9", "latin1", "café"),
    (b"caf\xe9", "no-such-codec", "caf\ufffd"),
    (b"caf\xe9", "rot13", "caf\ufffd"),  # a codec, but not a text encoding
    (b"caf\xe9", "idna", "caf\ufffd"),  # a text codec that cannot replace
])
def test_utf8_text(value: str | bytes, encoding: str, expected: str) -> None:
    result = utf8_text(value, encoding)
    assert result == expected
    result.encode("utf-8")  # never raises: valid UTF-8 whatever came in


def test_is_utf8() -> None:
    assert is_utf8("tests/test_ä.py")
    assert not is_utf8(os.fsdecode(b"tests/test_\xe9.py"))


@pytest.mark.parametrize(("raw", "expected"), [
    (b"tree 1\nauthor A\nencoding latin1\n\nCaf\xe9 na\xefve\n", "Café naïve\n"),
    (b"tree 1\nauthor A\nencoding ISO-8859-1\n\nCaf\xe9\n", "Café\n"),
    (b"tree 1\nauthor A\n\nCaf\xe9 raw\n", "Caf\ufffd raw\n"),
    (b"tree 1\nauthor A\n\nCaf\xc3\xa9 utf-8\n", "Café utf-8\n"),
    (b"tree 1\nencoding klingon\n\nCaf\xe9\n", "Caf\ufffd\n"),
    (b"tree 1\ngpgsig -----BEGIN\n encoding latin1\n -----END\n\nCaf\xe9\n", "Caf\ufffd\n"),  # not a header
])
def test_commit_message_honours_the_encoding_header(raw: bytes, expected: str) -> None:
    assert commit_message(raw) == expected


# --- split: submodules, non-UTF-8 names, spaces ------------------------------------------------------------

def _diff(repo, base: str, head: str) -> str:
    return full_diff(open_mirror(str(repo.root), repo.root.parent / "mirrors").repo, base, head)


def test_split_reports_submodules_and_non_utf8_paths(make_repo) -> None:
    helper = make_repo("helper")
    helper.commit("helper", {"h.py": "H = 1\n"})
    repo = make_repo("app")
    base = repo.commit("init", {"src/app.py": "X = 1\n"})
    repo("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(helper.root), "vendor/helper")
    repo.write({os.fsdecode(b"tests/data/r\xe9sum\xe9.txt"): "Ada\n", **FIX})
    head = repo.commit("Fix X")
    split = split_diff(_diff(repo, base, head))
    assert split.submodules == ["vendor/helper"]
    assert split.non_utf8_paths == ["tests/data/r\ufffdsum\ufffd.txt"]
    assert "vendor/helper" in split.source_files and ".gitmodules" in split.source_files
    assert unusable(split) == "non_utf8_path"


def test_spaces_in_paths_survive_the_split(make_repo) -> None:
    repo = make_repo()
    base = repo.commit("init", {"src/rate table.json": "1\n", "src/blob data.bin": b"\x00\x01"})
    head = repo.commit("Fix", {
        "src/rate table.json": "2\n", "src/blob data.bin": b"\x00\x02\xff",
        "tests/unit cases/test_rate table.py": "def test_rate():\n    pass\n",
    })
    split = split_diff(_diff(repo, base, head))
    assert split.test_files == ["tests/unit cases/test_rate table.py"]
    assert sorted(split.source_files) == ["src/blob data.bin", "src/rate table.json"]
    assert unusable(split) is None


def test_unusable_order() -> None:
    assert unusable(split_diff("")) == "no_test_change"


# --- full_diff: the size limit ------------------------------------------------------------------------------

def test_full_diff_stops_at_max_bytes(make_repo) -> None:
    repo = make_repo()
    base = repo.commit("init", {"src/app.py": "X = 1\n"})
    head = repo.commit("big", {"src/big.py": "ROW = 1\n" * 50_000, **FIX})
    mirror = open_mirror(str(repo.root), repo.root.parent / "mirrors")
    whole = full_diff(mirror.repo, base, head)
    assert len(whole.encode()) > 400_000
    assert full_diff(mirror.repo, base, head, max_bytes=len(whole.encode())) == whole
    with pytest.raises(NotACandidate) as info:
        full_diff(mirror.repo, base, head, max_bytes=len(whole.encode()) - 1)
    assert info.value.reason == "diff_too_large"


def test_full_diff_reports_git_errors(make_repo) -> None:
    import git

    repo = make_repo()
    head = repo.commit("init", {"src/app.py": "X = 1\n"})
    with pytest.raises(git.GitCommandError) as info:
        _diff(repo, "0" * 40, head)
    assert "bad object" in str(info.value) or "unknown revision" in str(info.value)


def test_full_diff_refuses_non_utf8_content(make_repo) -> None:
    repo = make_repo()
    base = repo.commit("init", {"src/app.py": "X = 1\n"})
    head = repo.commit("latin1", {"src/app.py": b"# caf\xe9\nX = 2\n"})
    with pytest.raises(NotACandidate) as info:
        _diff(repo, base, head)
    assert info.value.reason == "non_utf8_diff"


def test_full_diff_ignores_the_users_quotepath(make_repo) -> None:
    repo = make_repo()
    repo("config", "core.quotePath", "false")
    base = repo.commit("init", {"src/app.py": "X = 1\n"})
    head = repo.commit("names", {os.fsdecode(b"src/caf\xe9.py"): "X = 2\n"})
    mirror = open_mirror(str(repo.root), repo.root.parent / "mirrors")
    mirror.repo.git.config("core.quotePath", "false")
    assert '"b/src/caf\\351.py"' in full_diff(mirror.repo, base, head)


# --- mine_git -------------------------------------------------------------------------------------------------

def test_mine_skips_with_named_reasons(make_repo, store: Store, settings: Settings) -> None:
    helper = make_repo("helper")
    helper.commit("helper", {"h.py": "H = 1\n"})
    repo = make_repo("odd")
    repo.commit("init", {"src/app.py": "X = 1\n"})
    repo.commit("Bulk", {"src/table.py": "ROW = 1\n" * 2000, **FIX})
    repo.commit("Names", {os.fsdecode(b"tests/caf\xe9.txt"): "x\n", "src/app.py": "X = 3\n"})
    repo("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(helper.root), "vendor/helper")
    repo.commit("Vendor", {"src/app.py": "X = 4\n", "tests/test_app.py": "def test_x():\n    assert 4\n"})
    repo.commit("Fine (#9)", {"src/app.py": "X = 5\n", "tests/test_app.py": "def test_x():\n    assert 5\n"})
    small = settings.model_copy(update={"mine": MineSettings(max_diff_bytes=10_000)})
    report = mine_git(str(repo.root), store, small)
    assert report.added == ["local__odd-9"]
    assert dict(report.skipped) == {"root_commit": 1, "diff_too_large": 1, "non_utf8_path": 1,
                                    "submodule_change": 1}
    assert report.branch == "main"
    # the limit is a setting: with the default (1 MB) the bulk commit is a candidate
    again = mine_git(str(repo.root), store, settings)
    assert len(again.added) == 1 and "diff_too_large" not in again.skipped


def test_non_utf8_messages_are_stored_as_valid_utf8(make_repo, store: Store, settings: Settings,
                                                    tmp_path: Path) -> None:
    repo = make_repo("msgs")
    repo.commit("init", {"src/app.py": "X = 1\n"})
    repo.write(FIX)
    repo("add", "-A")
    (tmp_path / "msg").write_bytes("Corrige café (#3)\n".encode("latin-1"))
    repo("-c", "i18n.commitEncoding=latin1", "commit", "-q", "-F", str(tmp_path / "msg"))
    # a merge whose merged commit has a raw Latin-1 message and no encoding header: the statement comes
    # from `git log` of the merged commits
    repo("checkout", "-q", "-b", "topic")
    repo.write({"src/app.py": "X = 3\n", "tests/test_app.py": "def test_x():\n    assert 3\n"})
    repo("add", "-A")
    tree = repo.text("write-tree")
    parent = repo.text("rev-parse", "HEAD")
    who = b"T <t@example.com> 1735725600 +0000"
    raw = b"tree %s\nparent %s\nauthor %s\ncommitter %s\n\nR\xe9sum\xe9 raw bytes\n" % (
        tree.encode(), parent.encode(), who, who)
    sha = repo("hash-object", "-t", "commit", "-w", "--stdin", input=raw).decode().strip()
    repo("update-ref", "refs/heads/topic", sha)
    repo("checkout", "-q", "main")
    repo("merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    report = mine_git(str(repo.root), store, settings)
    statements = {c.instance_id: c.problem_statement for c in store.candidates()}
    assert report.added[0] == "local__msgs-3"
    assert statements["local__msgs-3"] == "Corrige café (#3)"
    assert statements[report.added[1]] == "R\ufffdsum\ufffd raw bytes"


def test_no_default_branch_is_a_clear_error(make_repo, store: Store, settings: Settings, tmp_path: Path) -> None:
    work = make_repo("work")
    work("checkout", "-q", "-b", "dev")
    work.commit("init", {"src/app.py": "X = 1\n"})
    work.commit("Fix (#4)", FIX)
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    work("push", "-q", str(bare), "dev")
    subprocess.run(["git", "--git-dir", str(bare), "symbolic-ref", "HEAD", "refs/heads/master"], check=True)
    with pytest.raises(UserError) as info:
        mine_git(str(bare), store, settings)
    assert "has no default branch" in info.value.what and "branches: dev" in info.value.what
    assert "--branch dev" in info.value.fix
    with pytest.raises(UserError) as info:
        mine_git(str(bare), store, settings, branch="nope")
    assert "no branch 'nope'" in info.value.what and "dev" in info.value.what
    assert store.candidates() == []
    report = mine_git(str(bare), store, settings, branch="dev")
    assert (report.added, report.branch) == (["local__bare-4"], "dev")
    # with a main (or master) branch, a dangling HEAD falls back to it
    work("push", "-q", str(bare), "dev:main")
    assert open_mirror(str(bare), settings.mirrors_dir).default_branch() == "main"


def test_empty_repository_with_branch_option(make_repo, store: Store, settings: Settings) -> None:
    repo = make_repo("empty")
    report = mine_git(str(repo.root), store, settings, branch="main")
    assert dict(report.skipped) == {"empty_repository": 1} and report.branch == ""


def test_repo_slug_of_a_latin1_folder() -> None:
    assert repo_slug(os.fsdecode(b"/tmp/caf\xe9")) == "local/caf\ufffd"


# --- settings, project file, CLI ---------------------------------------------------------------------------

def test_max_diff_bytes_from_env_file_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACTORY_MAX_DIFF_BYTES", raising=False)
    assert Settings().mine.max_diff_bytes == 1_000_000
    path = tmp_path / "factory.toml"
    path.write_text("[mine]\nmax_diff_bytes = 2000\n")
    assert load(path).mine.max_diff_bytes == 2000
    monkeypatch.setenv("FACTORY_MAX_DIFF_BYTES", "5000")  # the environment beats the file
    assert load(path).mine.max_diff_bytes == 5000
    monkeypatch.delenv("FACTORY_MAX_DIFF_BYTES")
    path.write_text("[mine]\nmax_diff_bytes = 0\n")
    with pytest.raises(UserError, match="mine.max_diff_bytes"):
        load(path)


@pytest.mark.parametrize(("args", "what"), [
    (["mine", "--branch", "dev"], "--branch needs --git"),
    (["mine", "--github", "a/b", "--branch", "dev"], "--branch needs --git"),
    (["mine", "--max-diff-bytes", "10"], "--max-diff-bytes applies to --git / --github"),
])
def test_mine_option_errors(args: list[str], what: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, UserError) and what in result.exception.what


def test_mine_cli_states_diff_too_large(make_repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    repo = make_repo("big")
    repo.commit("init", {"src/app.py": "X = 1\n"})
    repo.commit("Bulk", {"src/table.py": "ROW = 1\n" * 2000, **FIX})
    (tmp_path / "factory.toml").write_text("[mine]\nmax_diff_bytes = 5000\n")
    where = ["--db", str(tmp_path / "f.duckdb"), "--home", str(tmp_path / "home")]
    result = CliRunner().invoke(app, ["mine", "--git", str(repo.root), *where])
    assert result.exit_code == 0, result.output
    assert "skipped: diff_too_large: 1, root_commit: 1" in result.output
    assert "over 5,000 bytes" in result.output
    result = CliRunner().invoke(app, ["mine", "--git", str(repo.root), "--max-diff-bytes", "100000", *where])
    assert "1 new candidate(s)" in result.output, result.output


def test_fault_suite_reads_the_mine_report_line() -> None:
    from tests.faults_hostile import new_candidates, skip_counts

    line = "local/x: scanned 4 first-parent commits of main, 1 new candidate(s), 0 already known; " \
           "skipped: diff_too_large: 2, root_commit: 1\n  diff_too_large: 2 — fix(es) whose diff is over 1,000 bytes"
    assert skip_counts(line) == {"diff_too_large": 2, "root_commit": 1}
    assert new_candidates(line) == 1
    assert skip_counts("local/x: scanned 0 first-parent commits, 0 new candidate(s); skipped: none") == {}
    assert skip_counts("error: boom") == {} and new_candidates("error: boom") is None
