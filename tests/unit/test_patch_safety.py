"""Refusing patches whose paths escape the repository (factory.patch_safety).

Most patches here are real ``git diff`` output from throw-away repositories, so the parser is tested on
the format it meets, including symlinks (mode 120000) and quoted names.
"""

from __future__ import annotations

import os

import pytest

from factory.patch_safety import link_problem, path_problem, problems, refusal

EDIT = """\
diff --git a/src/pkg/mod.py b/src/pkg/mod.py
index 1111111..2222222 100644
--- a/src/pkg/mod.py
+++ b/src/pkg/mod.py
@@ -1,3 +1,3 @@
 def f():
-    return 1
+    return 2
 # end
"""


def test_an_ordinary_edit_is_safe() -> None:
    assert problems(EDIT) == []
    assert refusal(EDIT) == ""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("--- a/src/pkg/mod.py", "--- a/../x", "climbs out of the repository"),
        ("+++ b/src/pkg/mod.py", "+++ b/../../etc/cron.d/x", "climbs out of the repository"),
        ("+++ b/src/pkg/mod.py", "+++ b/src/../../x", "climbs out of the repository"),
        ("+++ b/src/pkg/mod.py", "+++ /etc/passwd", "absolute path '/etc/passwd'"),
        ("--- a/src/pkg/mod.py", "--- /root/.bashrc\t2024-01-01 00:00:00", "absolute path '/root/.bashrc'"),
        ("+++ b/src/pkg/mod.py", "+++ b/.git/hooks/post-checkout", "writes into the .git directory"),
        ("diff --git a/src/pkg/mod.py b/src/pkg/mod.py", "diff --git a/../mod.py b/../mod.py", "climbs out"),
    ],
)
def test_escaping_paths_are_refused_with_their_reason(old: str, new: str, expected: str) -> None:
    patch = EDIT.replace(old, new)
    assert patch != EDIT
    assert expected in refusal(patch)


def test_renames_copies_and_context_or_index_headers_are_checked() -> None:
    rename = "diff --git a/a.py b/a.py\nsimilarity index 100%\nrename from a.py\nrename to ../a.py\n"
    assert "'../a.py'" in refusal(rename)
    copy = "diff --git a/a.py b/b.py\ncopy from a.py\ncopy to /tmp/b.py\n"
    assert "absolute path '/tmp/b.py'" in refusal(copy)
    context = "*** ../outside.py\t2024-01-01\n--- ../outside.py\t2024-01-01\n***************\n*** 1 ****\n"
    assert "'../outside.py'" in refusal(context)
    index = "Index: /etc/hosts\n===\n--- hosts\n+++ hosts\n@@ -1 +1 @@\n-a\n+b\n"
    assert "absolute path '/etc/hosts'" in refusal(index)


def test_header_like_lines_inside_a_hunk_are_content() -> None:
    # Removing a SQL comment "-- ../x" and adding "++ /y" gives hunk lines that look like headers.
    patch = (
        "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,2 @@\n"
        "--- ../notes\n"
        "+++ /etc/whatever\n"
        " select 1;\n"
    )
    assert problems(patch) == []
    # ... but after the hunk's counted lines, headers are read again.
    assert "climbs out" in refusal(patch + "--- a/../x\n+++ b/../x\n")


def test_quoted_names_are_unquoted() -> None:
    patch = 'diff --git "a/caf\\303\\251.py" "b/caf\\303\\251.py"\n--- "a/caf\\303\\251.py"\n+++ "b/caf\\303\\251.py"\n'
    assert problems(patch) == []
    bad = 'diff --git "a/x y" "b/../x y"\n'
    assert "'b/../x y'" in refusal(bad)


@pytest.mark.parametrize(
    ("link", "target", "escapes"),
    [
        ("lnk", "src/x.py", False),
        ("src/a/lnk", "../../x", False),
        ("src/a/lnk", "../../../x", True),
        ("lnk", "..", True),
        ("lnk", "/etc/passwd", True),
        ("src/lnk", "./../x/./y", False),
    ],
)
def test_link_targets(link: str, target: str, escapes: bool) -> None:
    assert bool(link_problem(link, target)) is escapes


def test_path_problem_passes_dev_null_and_dotfiles() -> None:
    assert path_problem("/dev/null") == ""
    assert path_problem("a/.github/workflows/ci.yml") == ""
    assert path_problem("b/.gitignore") == ""
    assert path_problem("a/..hidden/x") == ""


# ---- real git output ------------------------------------------------------------------------------


def git_diff_with_symlink(make_repo, name: str, target: str, repo_name: str = "repo") -> str:
    repo = make_repo(repo_name)
    repo.commit("init", {"src/pkg/mod.py": "x = 1\n"})
    os.symlink(target, repo.root / name)
    repo("add", "-A")
    return repo("diff", "--cached", "HEAD").decode()


def test_a_new_symlink_pointing_outside_is_refused(make_repo) -> None:
    patch = git_diff_with_symlink(make_repo, "src/data", "../../../etc")
    assert "new file mode 120000" in patch
    assert refusal(patch) == "symlink 'src/data' points outside the repository ('../../../etc')"


def test_an_absolute_symlink_is_refused_and_an_inner_one_allowed(make_repo) -> None:
    assert "absolute path '/etc/passwd'" in refusal(git_diff_with_symlink(make_repo, "pw", "/etc/passwd"))
    inner = git_diff_with_symlink(make_repo, "src/alias.py", "pkg/mod.py", repo_name="inner")
    assert "new file mode 120000" in inner
    assert problems(inner) == []


def test_retargeting_an_existing_symlink_outside_is_refused(make_repo) -> None:
    repo = make_repo()
    os.symlink("src", repo.root / "lnk")
    repo.commit("init", {"src/a.py": "a = 1\n"})
    (repo.root / "lnk").unlink()
    os.symlink("../outside", repo.root / "lnk")
    patch = repo("diff", "HEAD").decode()
    assert "index " in patch and " 120000" in patch
    assert "symlink 'lnk' points outside" in refusal(patch)
