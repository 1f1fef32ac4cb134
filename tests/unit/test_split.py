"""Path rules and diff splitting (factory.mining.split) on real ``git diff --binary`` output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from factory.mining.git_source import candidate_from_commit
from factory.mining.mirror import open_mirror
from factory.mining.split import file_diffs, is_doc_path, is_test_path, split_diff

# The same flags git_source.candidate_from_commit uses.
DIFF_ARGS = ("diff", "--binary", "--full-index", "--no-color", "--no-ext-diff")

# Bytes git cannot show as text: NULs and every byte value, so a lossy round trip would show.
BLOB = bytes(range(256)) * 4 + b"\x00\x01\x02tail"
MODIFIED_BLOB_BASE = b"\x00fixture v1\x00" + bytes(range(200))
TEST_CORE = "from pkg.core import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
MODIFIED_BLOB_FIX = b"\x00fixture v2\x00" + bytes(reversed(range(200)))


# ---- path rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_core.py",
        "tests/helpers.py",
        "tests/data/fixture.json",
        "tests/fixtures/deep/blob.bin",
        "src/pkg/tests/test_x.py",
        "pkg/test/util.py",
        "lib/testing/asserts.py",
        "conftest.py",
        "src/conftest.py",
        "test_top.py",
        "pkg/core_test.py",
        "pkg/core_tests.py",
        "pkg/tests.py",
        "pkg/test.py",
    ],
)
def test_is_test_path_true(path: str) -> None:
    assert is_test_path(path) is True


@pytest.mark.parametrize(
    "path",
    [
        "src/pkg/core.py",
        "src/pkg/contest.py",
        "src/latest/core.py",
        "testutils/helpers.py",
        "src/test_data.json",  # test_* names count only for .py files
        "pkg/test_core.pyc",
        "tests",  # a file named "tests", not a directory
        "requirements-test.txt",
        "pytest.ini",
        "README.md",
    ],
)
def test_is_test_path_false(path: str) -> None:
    assert is_test_path(path) is False


@pytest.mark.parametrize(
    "path",
    [
        "docs/index.rst",
        "docs/conf.py",
        "doc/api/module.py",
        "Documentation/guide.adoc",
        "README.md",
        "CHANGELOG",
        "CHANGES.rst",
        "LICENSE",
        "licence.txt",
        "src/pkg/notes.txt",
        "docs/requirements.txt",  # anything under docs/ is documentation
    ],
)
def test_is_doc_path_true(path: str) -> None:
    assert is_doc_path(path) is True


@pytest.mark.parametrize(
    "path",
    [
        "requirements-test.txt",
        "requirements.txt",
        "dev/requirements_dev.txt",
        "src/pkg/core.py",
        "pyproject.toml",
        "setup.cfg",
        "src/docs/core.py",  # only a top-level doc directory counts
    ],
)
def test_is_doc_path_false(path: str) -> None:
    assert is_doc_path(path) is False


# ---- split_diff on a real diff ------------------------------------------------------------------


def _build_fix(make_repo):
    """A base commit and a fix commit exercising every awkward kind of file change."""
    repo = make_repo("split")
    base = repo.commit(
        "base",
        {
            "src/pkg/__init__.py": "",
            "src/pkg/core.py": "def add(a, b):\n    return a - b\n",
            "src/pkg/util.py": "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(20)),
            "src/pkg/my module.py": "VALUE = 1\n",
            "src/pkg/café.py": "NAME = 'cafe'\n",
            "docs/index.md": "# pkg\n",
            "requirements-test.txt": "pytest\n",
            "tests/test_old.py": "def test_old():\n    assert True\n",
            "tests/data/model.bin": MODIFIED_BLOB_BASE,
        },
    )
    fix = repo.commit(
        "Fix add\n\nFixes #3",
        {
            "src/pkg/core.py": "def add(a, b):\n    return a + b\n",
            # a rename with a small edit: git reports rename from/to plus a hunk
            "src/pkg/util.py": None,
            "src/pkg/helpers.py": "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(20))
            + "X = 1\n",
            "src/pkg/my module.py": "VALUE = 2\n",
            "src/pkg/café.py": "NAME = 'café'\n",
            "docs/index.md": "# pkg\n\nAdds numbers.\n",
            "requirements-test.txt": "pytest>=8\n",
            "tests/test_old.py": None,
            "tests/__init__.py": "",
            "tests/test_core.py": TEST_CORE,
            "tests/data/blob.bin": BLOB,
            "tests/data/my blob.bin": BLOB[::-1],
            "tests/data/données.bin": BLOB[:100],
            "tests/data/model.bin": MODIFIED_BLOB_FIX,
        },
    )
    diff = repo(*DIFF_ARGS, base, fix).decode("utf-8")
    return repo, base, fix, diff


def test_real_diff_has_the_awkward_cases(make_repo) -> None:
    _, _, _, diff = _build_fix(make_repo)
    # Guard: the fixture really produces what the other tests rely on.
    assert "rename from src/pkg/util.py\nrename to src/pkg/helpers.py\n" in diff
    assert "deleted file mode 100644" in diff
    assert diff.count("GIT binary patch") == 4
    assert '"b/tests/data/donn\\303\\251es.bin"' in diff
    assert "diff --git a/tests/data/my blob.bin b/tests/data/my blob.bin\n" in diff


def test_file_diffs_paths(make_repo) -> None:
    _, _, _, diff = _build_fix(make_repo)
    paths = {(f.old_path, f.new_path) for f in file_diffs(diff)}
    assert paths == {
        ("docs/index.md", "docs/index.md"),
        ("requirements-test.txt", "requirements-test.txt"),
        ("src/pkg/café.py", "src/pkg/café.py"),
        ("src/pkg/core.py", "src/pkg/core.py"),
        ("src/pkg/util.py", "src/pkg/helpers.py"),
        ("src/pkg/my module.py", "src/pkg/my module.py"),
        (None, "tests/__init__.py"),
        (None, "tests/data/blob.bin"),
        (None, "tests/data/données.bin"),
        (None, "tests/data/my blob.bin"),
        ("tests/data/model.bin", "tests/data/model.bin"),
        (None, "tests/test_core.py"),
        ("tests/test_old.py", None),
    }
    # Blocks are cut byte for byte: joined again they are the whole diff.
    assert "".join(f.text for f in file_diffs(diff)) == diff


def test_split_diff_assigns_files(make_repo) -> None:
    _, _, _, diff = _build_fix(make_repo)
    split = split_diff(diff)
    assert sorted(split.test_files) == [
        "tests/__init__.py",
        "tests/data/blob.bin",
        "tests/data/données.bin",
        "tests/data/model.bin",
        "tests/data/my blob.bin",
        "tests/test_core.py",
    ]
    assert "tests/test_old.py" not in split.test_files  # deleted: nothing to run
    assert "diff --git a/tests/test_old.py b/tests/test_old.py\ndeleted file mode" in split.test_patch
    assert sorted(split.source_files) == [
        "requirements-test.txt",
        "src/pkg/café.py",
        "src/pkg/core.py",
        "src/pkg/helpers.py",
        "src/pkg/my module.py",
    ]
    assert "diff --git a/docs/index.md b/docs/index.md" in split.patch  # docs stay in the gold patch
    assert "tests/" not in split.patch
    assert "src/" not in split.test_patch
    assert split.test_patch.count("GIT binary patch") == 4
    assert split.patch.count("GIT binary patch") == 0
    assert len(split.patch) + len(split.test_patch) == len(diff)


def _git_apply(repo, patch: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "apply", *extra, "-"],
        cwd=repo.root,
        input=patch.encode("utf-8"),
        capture_output=True,
        env=repo.env(),
        check=False,
    )


def test_patches_apply_cleanly_on_base(make_repo) -> None:
    repo, base, fix, diff = _build_fix(make_repo)
    split = split_diff(diff)
    repo("checkout", "-q", base)
    for part in (split.patch, split.test_patch):
        result = _git_apply(repo, part, "--check")
        assert result.returncode == 0, result.stderr.decode()

    # Applying both for real reproduces the fix commit's tree exactly, binary files included.
    for part in (split.test_patch, split.patch):
        result = _git_apply(repo, part, "--index")
        assert result.returncode == 0, result.stderr.decode()
    assert repo.text("write-tree") == repo.text("rev-parse", f"{fix}^{{tree}}")
    assert (repo.root / "tests/data/blob.bin").read_bytes() == BLOB
    assert (repo.root / "tests/data/my blob.bin").read_bytes() == BLOB[::-1]
    assert (repo.root / "tests/data/model.bin").read_bytes() == MODIFIED_BLOB_FIX
    assert not (repo.root / "tests/test_old.py").exists()


def test_test_patch_alone_keeps_binary_fixture(make_repo) -> None:
    repo, base, _, diff = _build_fix(make_repo)
    repo("checkout", "-q", base)
    result = _git_apply(repo, split_diff(diff).test_patch)
    assert result.returncode == 0, result.stderr.decode()
    assert (repo.root / "tests/data/données.bin").read_bytes() == BLOB[:100]
    # The gold patch was not applied: the bug is still there.
    assert "return a - b" in (repo.root / "src/pkg/core.py").read_text()


def test_candidate_from_commit_uses_the_same_split(make_repo, tmp_path: Path) -> None:
    repo, base, fix, diff = _build_fix(make_repo)
    mirror = open_mirror(str(repo.root), tmp_path / "mirrors")
    result = candidate_from_commit(mirror, mirror.repo.commit(fix), set())
    assert not isinstance(result, str), result
    split = split_diff(diff)
    assert result.base_commit == base
    assert result.patch == split.patch
    assert result.test_patch == split.test_patch
    assert result.test_files == split.test_files
    assert result.issue_numbers == ["3"]
    assert result.instance_id == "local__split-3"


def test_split_without_test_or_source_changes() -> None:
    assert split_diff("") == split_diff("\n")
    empty = split_diff("")
    assert (empty.patch, empty.test_patch, empty.test_files, empty.source_files) == ("", "", [], [])
