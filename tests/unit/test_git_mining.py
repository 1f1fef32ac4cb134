"""Mining candidates from a local git repository (factory.mining.git_source), no Docker."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples import tinyledger
from factory.core.errors import UserError
from factory.core.settings import Settings
from factory.mining.git_source import mine_git
from factory.store import Store

NOT_CANDIDATE = "not a candidate"
CANDIDATE_SUBJECTS = {s for s, outcome in tinyledger.EXPECTED.items() if outcome != NOT_CANDIDATE}


@pytest.fixture(scope="module")
def example_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example repository, built once; tests copy it before changing it."""
    return tinyledger.create(tmp_path_factory.mktemp("example") / "tinyledger")


@pytest.fixture
def example(example_master: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(example_master, tmp_path / "tinyledger", symlinks=True))


def first_parent_subjects(repo: Path) -> dict[str, str]:
    """subject -> sha of each first-parent commit of the repository's HEAD."""
    out = subprocess.run(
        ["git", "log", "--first-parent", "--format=%H %s"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in out.splitlines()}


def fix_subjects(store: Store, repo: Path) -> set[str]:
    by_sha = {sha: subject for subject, sha in first_parent_subjects(repo).items()}
    return {by_sha[c.fix_commit] for c in store.candidates()}


# ---- the example repository ---------------------------------------------------------------------


def test_example_yields_seven_candidates(example: Path, store: Store, settings: Settings) -> None:
    report = mine_git(str(example), store, settings)
    assert report.repo == "acme/tinyledger"
    assert report.scanned == 11
    assert len(report.added) == 7
    assert dict(report.skipped) == {"no_test_change": 3, "root_commit": 1}
    assert report.already_known == 0
    assert "acme__tinyledger-7" in report.added
    assert "acme__tinyledger-12" in report.added
    assert store.instance_ids() == set(report.added)
    assert fix_subjects(store, example) == CANDIDATE_SUBJECTS
    assert store.counts() == {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 7}


def test_example_candidate_fields(example: Path, store: Store, settings: Settings) -> None:
    mine_git(str(example), store, settings)
    subjects = first_parent_subjects(example)

    merge = store.candidate("acme__tinyledger-7")
    assert merge.fix_commit == subjects["Merge pull request #7 from dev/discount-clamp"]
    assert merge.base_commit == subjects["Round amounts to the nearest cent"]  # first parent of the merge
    assert merge.pull_number == 7
    assert merge.issue_numbers == []
    assert merge.problem_statement == "Discounts larger than the subtotal made totals negative."
    assert merge.test_files == ["tests/test_ledger.py"]
    assert "src/tinyledger/ledger.py" in merge.patch and "tests/" not in merge.patch
    assert merge.source == f"git:{example}"
    assert merge.repo == "acme/tinyledger"

    fixes12 = store.candidate("acme__tinyledger-12")
    assert fixes12.fix_commit == subjects["Accept negative amounts in parentheses"]
    assert fixes12.issue_numbers == ["12"]
    assert fixes12.pull_number is None
    assert fixes12.problem_statement.startswith("Accept negative amounts in parentheses\n\n")
    assert fixes12.problem_statement.endswith("Fixes #12")

    rounding_sha = subjects["Round amounts to the nearest cent"]
    rounding = store.candidate(f"acme__tinyledger-{rounding_sha[:7]}")  # no PR, no issue: short sha
    assert rounding.test_files == ["tests/test_rounding.py"]
    assert "new file mode 100644" in rounding.test_patch
    assert rounding.version == ""  # the example has no tags


def test_docs_and_dependency_only_commits_are_not_candidates(
    example: Path, store: Store, settings: Settings
) -> None:
    mine_git(str(example), store, settings)
    subjects = first_parent_subjects(example)
    known = store.known_fix_commits("acme/tinyledger")
    for subject in (
        "Document the command line in the README",
        "Add optional fast JSON dependency",
        "Drop the fast JSON dependency",
        "Initial import of tinyledger",
    ):
        assert subjects[subject] not in known, subject


def test_remining_adds_nothing(example: Path, store: Store, settings: Settings) -> None:
    first = mine_git(str(example), store, settings)
    again = mine_git(str(example), store, settings)
    assert again.added == []
    assert again.already_known == 7
    assert again.scanned == 11
    assert store.instance_ids() == set(first.added)
    assert store.table_counts()["candidates"] == 7


def test_new_commit_is_picked_up_alone(example: Path, store: Store, settings: Settings, make_repo) -> None:
    mine_git(str(example), store, settings)
    old_head = first_parent_subjects(example)["Document the command line in the README"]

    # Add a fix to the source repository after the first mining run.
    source = make_repo(at=example)
    money = (example / "src/tinyledger/money.py").read_text()
    sha = source.commit(
        "Reject empty amounts\n\nFixes #20",
        {
            "src/tinyledger/money.py": money.replace(
                "    cleaned = text.strip()\n",
                '    cleaned = text.strip()\n    if not cleaned:\n        raise ValueError("empty amount")\n',
            ),
            "tests/test_empty.py": "import pytest\n\nfrom tinyledger.money import parse_amount\n\n\n"
            'def test_empty():\n    with pytest.raises(ValueError):\n        parse_amount("")\n',
        },
    )
    report = mine_git(str(example), store, settings)
    assert report.added == ["acme__tinyledger-20"]
    assert report.already_known == 7
    assert report.scanned == 12
    new = store.candidate("acme__tinyledger-20")
    assert (new.fix_commit, new.base_commit) == (sha, old_head)
    assert new.test_files == ["tests/test_empty.py"]
    assert store.table_counts()["candidates"] == 8


def test_limit(example: Path, store: Store, settings: Settings) -> None:
    subjects = first_parent_subjects(example)
    report = mine_git(str(example), store, settings, limit=2)
    assert len(report.added) == 2
    assert {c.fix_commit for c in store.candidates()} == {
        subjects["Round amounts to the nearest cent"],
        subjects["Merge pull request #7 from dev/discount-clamp"],
    }
    rest = mine_git(str(example), store, settings, limit=None)
    assert len(rest.added) == 5
    assert rest.already_known == 2
    assert fix_subjects(store, example) == CANDIDATE_SUBJECTS


def test_since_and_until(example: Path, settings: Settings, tmp_path: Path) -> None:
    # Example commit times: day 1 09:00-16:00 (eight first-parent ticks), day 2 from 09:00 on.
    day2 = datetime(2024, 3, 2, tzinfo=UTC)
    cases = [
        ({"since": day2}, {"Add tag export", "Group thousands in formatted amounts"}),
        ({"until": day2}, CANDIDATE_SUBJECTS - {"Add tag export", "Group thousands in formatted amounts"}),
        (
            {
                "since": datetime(2024, 3, 1, 13, 30, tzinfo=UTC),
                "until": datetime(2024, 3, 1, 15, 30, tzinfo=UTC),
            },
            {"Accept negative amounts in parentheses", "Tidy report rendering and test it"},
        ),
        ({"since": datetime(2030, 1, 1, tzinfo=UTC)}, set()),
    ]
    for i, (window, expected) in enumerate(cases):
        with Store(tmp_path / f"window{i}.duckdb") as store:
            report = mine_git(str(example), store, settings, **window)
            assert fix_subjects(store, example) == expected, window
            assert len(report.added) == len(expected)


def test_name_overrides_the_slug(example: Path, store: Store, settings: Settings) -> None:
    report = mine_git(str(example), store, settings, name="acme/ledger2")
    assert report.repo == "acme/ledger2"
    assert "acme__ledger2-7" in report.added
    assert all(c.repo == "acme/ledger2" for c in store.candidates())


# ---- other repositories -------------------------------------------------------------------------


def test_nonexistent_path(store: Store, settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    with pytest.raises(UserError) as info:
        mine_git(str(missing), store, settings)
    assert str(missing) in info.value.what
    assert store.table_counts()["candidates"] == 0


def test_directory_that_is_not_a_repository(store: Store, settings: Settings, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("x = 1\n")
    with pytest.raises(UserError, match="not a git repository"):
        mine_git(str(plain), store, settings)


def test_repo_without_tests(make_repo, store: Store, settings: Settings) -> None:
    repo = make_repo("notests")
    repo.commit("init", {"src/app.py": "X = 1\n"})
    repo.commit("Fix X\n\nFixes #1", {"src/app.py": "X = 2\n"})
    repo.commit("Docs", {"README.md": "# app\n"})
    report = mine_git(str(repo.root), store, settings)
    assert report.added == []
    assert report.scanned == 3
    assert dict(report.skipped) == {"root_commit": 1, "no_test_change": 2}
    assert store.table_counts()["candidates"] == 0


def test_test_only_and_doc_only_changes(make_repo, store: Store, settings: Settings) -> None:
    repo = make_repo("lib")
    repo.commit("init", {"src/app.py": "X = 1\n", "tests/test_app.py": "def test_x():\n    pass\n"})
    repo.commit("More tests", {"tests/test_app.py": "def test_x():\n    assert 1\n"})
    repo.commit(
        "Docs and tests", {"docs/usage.md": "use it\n", "tests/test_app.py": "def test_x():\n    pass\n"}
    )
    report = mine_git(str(repo.root), store, settings)
    assert report.added == []
    assert dict(report.skipped) == {"root_commit": 1, "no_source_change": 2}


def test_empty_repository(make_repo, store: Store, settings: Settings) -> None:
    repo = make_repo("empty")  # git init only
    report = mine_git(str(repo.root), store, settings)
    assert report.added == []
    assert report.scanned == 0
    assert dict(report.skipped) == {"empty_repository": 1}
    again = mine_git(str(repo.root), store, settings)  # the existing (empty) mirror is refreshed fine
    assert again.added == []

    # Once the repository gets history, the same mirror picks it up.
    repo.commit("init", {"src/app.py": "X = 1\n"})
    sha = repo.commit(
        "Fix X (#4)", {"src/app.py": "X = 2\n", "tests/test_app.py": "def test_x():\n    pass\n"}
    )
    later = mine_git(str(repo.root), store, settings)
    assert later.added == ["local__empty-4"]
    assert store.candidate("local__empty-4").fix_commit == sha


def test_instance_ids_never_collide(make_repo, store: Store, settings: Settings) -> None:
    repo = make_repo("ids")
    repo.commit("init", {"src/app.py": "X = 0\n"})
    messages = ["Fix X (#9)", "Fix X\n\nFixes #5", "Fix X again (#9)\n\nFixes #5"]
    shas = [
        repo.commit(
            message, {"src/app.py": f"X = {i}\n", "tests/test_app.py": f"def test_x():\n    assert {i}\n"}
        )
        for i, message in enumerate(messages, start=1)
    ]
    report = mine_git(str(repo.root), store, settings)
    # PR number first, then the first local issue, then the short sha once both are taken.
    assert report.added == ["local__ids-9", "local__ids-5", f"local__ids-{shas[2][:7]}"]
    assert store.candidate("local__ids-5").fix_commit == shas[1]
