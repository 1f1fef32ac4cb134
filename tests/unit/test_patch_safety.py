"""Refusing patches whose paths escape the repository (factory.grading.patch_safety).

Most patches here are real ``git diff`` output from throw-away repositories, so the parser is tested on
the format it meets, including symlinks (mode 120000) and quoted names. The hand-written attacks are
checked against the real tools too: GNU patch does write ``.git`` with them, git does create the links.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zlib

import pytest

from factory.grading.patch_safety import link_problem, path_problem, problems, refusal

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


# ---- reading a patch the way git and GNU patch read it --------------------------------------------------

EVIL = "@@ -1 +1,2 @@\n [core]\n+\thooksPath = /tmp/evil\n"  # a hunk GNU patch applies to any .git/config
SEPARATORS = ["\x1c", "\x1d", "\x1e", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\r"]  # str.splitlines() splits there


def hidden_behind(sep: str) -> str:
    """A fake hunk header, one line for git and GNU patch, that covers the real .git/config headers."""
    return f"junk{sep}@@ -1,4 +1,5 @@\n--- a/.git/config\n+++ b/.git/config\n" + EVIL


PLAIN = "--- a/.git/config\n+++ b/.git/config\n" + EVIL
INDENTED = " --- a/.git/config\n +++ b/.git/config\n @@ -1 +1,2 @@\n  [core]\n +\thooksPath = /tmp/evil\n"
GNU_READS = {  # headers git never sees but GNU patch does (after git apply fails, it writes .git/config)
    "@@ before any header": "@@ -1,3 +1,3 @@\n" + INDENTED,
    "X-prefixed lines": "".join(f"X{line}\n" for line in PLAIN.splitlines()),
    "tab-indented lines": "".join(f"\t{line}\n" for line in PLAIN.splitlines()),
    "Index: without a space": "Index:x/.git/config\n" + EVIL,
    "RFC 934 '- ' before ---": "- --- a/.git/config\t2024-01-01 00:00:00.000000000 +0000\n@@ -1 +1,2 @@\n"
    "-  [core]\n- +\thooksPath = /tmp/evil\n",
    "garbage ends the file, then @@ without a header": "--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+A\njunk\n"
    "@@ -1,3 +1,3 @@\n" + INDENTED,
    "unified hunk after a context diff": "*** a/x.txt\n--- b/x.txt\n***************\n*** 1 ****\n! a\n--- 1 ----\n! A\n"
    "@@ -1,3 +1,3 @@\n" + INDENTED,
}
WRITES_GIT = [*(hidden_behind(sep) for sep in SEPARATORS), *GNU_READS.values()]


@pytest.mark.parametrize("sep", SEPARATORS, ids=repr)
def test_lines_end_at_newline_only(sep: str) -> None:
    assert "writes into the .git directory" in refusal(hidden_behind(sep))


@pytest.mark.parametrize("name", GNU_READS)
def test_headers_gnu_patch_finds_are_checked(name: str) -> None:
    assert "writes into the .git directory" in refusal(GNU_READS[name])


@pytest.mark.skipif(shutil.which("patch") is None, reason="GNU patch is not installed")
@pytest.mark.parametrize("patch", WRITES_GIT, ids=range(len(WRITES_GIT)))
def test_those_patches_really_write_git_config_with_gnu_patch(make_repo, patch: str) -> None:
    repo = make_repo()
    repo.commit("init", {"x.txt": "a\nb\nc\n"})
    before = (repo.root / ".git" / "config").read_text()
    assert subprocess.run(["git", "apply", "--check", "-"], input=patch.encode(), cwd=repo.root,
                          capture_output=True).returncode != 0
    subprocess.run(["patch", "--batch", "--forward", "--fuzz=5", "-p1"], input=patch.encode(), cwd=repo.root,
                   capture_output=True, check=True)
    assert (repo.root / ".git" / "config").read_text() != before


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("+++ b/.GIT/config", "writes into the .git directory"),
        ("+++ b/.git./config", "writes into the .git directory"),
        ("+++ b/.git\x00zz/config", "path 'b/.git' writes into the .git directory"),  # GNU patch stops at NUL
        ("+++ b/.git junk", "path 'b/.git' writes into the .git directory"),  # GNU patch: a name ends at a space
        ("rename new ../outside.py", "'../outside.py' climbs out"),  # git's old spelling of "rename to"
        ("rename old /etc/passwd", "absolute path '/etc/passwd'"),
    ],
)
def test_every_reading_of_a_header_is_checked(line: str, expected: str) -> None:
    assert expected in refusal(f"--- a/x.txt\n{line}\n@@ -1 +1 @@\n-a\n+b\n")


def test_hunks_the_tools_may_read_differently_make_every_line_a_header() -> None:
    # Newer GNU patch skips "#" lines even inside hunks: where the hunk ends is unsure, so every line is checked.
    patch = "--- a/q.sql\n+++ b/q.sql\n@@ -1,2 +1,2 @@\n#\n--- ../notes\n select 1;\n"
    assert "climbs out" in refusal(patch)
    assert problems(patch.replace("../notes", "notes")) == []  # nothing unsafe: still applied
    safe_context_diff = "*** a/x.txt\n--- b/x.txt\n***************\n*** 1 ****\n! a\n--- 1 ----\n! b\n"
    assert problems(safe_context_diff) == []
    link = "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1,2 @@\n+src\n#\n"
    assert "ambiguous patch with a symlink" in refusal(link)


def test_real_diffs_with_no_newline_binary_files_and_crlf_pass(make_repo) -> None:
    repo = make_repo()
    repo.commit("init", {"a.txt": "x\ny", "b.bin": b"\x00\x01", "c.txt": "one\r\n\r\ntwo\r\n", "d.txt": "-- x\n"})
    repo.write({"a.txt": "x\nz", "b.bin": b"\x00\x02\x03", "c.txt": "one\r\n\r\nthree\r\n", "d.txt": "++ /y\n"})
    repo("add", "-A")
    patch = repo("diff", "--cached", "--binary", "--full-index", "HEAD").decode()
    assert "\\ No newline at end of file" in patch and "GIT binary patch" in patch
    assert problems(patch) == []


# ---- symlinks, followed as the file system would ----------------------------------------------------------


def git_diff_with_symlinks(make_repo, links: dict[str, str], files: dict[str, str] | None = None) -> str:
    repo = make_repo()
    repo.commit("init", {"src/pkg/mod.py": "x = 1\n", "sub/f.txt": "s\n"})
    repo.write(files or {})
    for name, target in links.items():
        os.symlink(target, repo.root / name)
    repo("add", "-A")
    return repo("diff", "--cached", "HEAD").decode()


def test_a_link_through_another_new_link_is_resolved(make_repo) -> None:
    # l2 is the repository root, so l2/.. is its parent: read lexically, l1 seemed to stay inside.
    patch = git_diff_with_symlinks(make_repo, {"l2": ".", "l1": "l2/.."})
    assert refusal(patch) == "symlink 'l1' points outside the repository ('l2/..')"


def test_a_link_through_another_new_link_may_come_back_inside(make_repo) -> None:
    # l2 is src/pkg, so l2/../.. is the root again (a lexical reading thought it left the repository).
    assert problems(git_diff_with_symlinks(make_repo, {"l2": "src/pkg", "l1": "l2/../.."})) == []


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        ({"l1": "l2", "l2": "l1"}, "symlink 'l1' does not resolve"),
        ({"l": "l/x"}, "symlink 'l' does not resolve"),
        ({"l": ".git"}, "symlink 'l' points into the .git directory ('.git')"),
        ({"l2": "sub", "l": "l2/../.git/hooks"}, "points into the .git directory"),
    ],
)
def test_link_loops_and_links_into_git_are_refused(make_repo, links: dict[str, str], expected: str) -> None:
    assert expected in refusal(git_diff_with_symlinks(make_repo, links))


NO_EOL = "\\ No newline at end of file\n"
NEW_LINK = "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+{}\n" + NO_EOL
NEW_FILE = "diff --git a/{0} b/{0}\nnew file mode 100755\n--- /dev/null\n+++ b/{0}\n@@ -0,0 +1,2 @@\n+#!/bin/sh\n+:\n"
THROUGH_LINK = NEW_LINK.format(".git") + NEW_FILE.format("l/hooks/post-checkout")


def test_no_path_goes_through_a_link_the_patch_creates(make_repo) -> None:
    assert "path 'l/hooks/post-checkout' goes through the symlink 'l'" in problems(THROUGH_LINK)
    assert "goes through the symlink 'l'" in refusal(NEW_LINK.format("sub") + NEW_FILE.format("l/g.txt"))
    if shutil.which("patch"):  # GNU patch does follow the new link into .git
        repo = make_repo()
        repo.commit("init", {"x.txt": "a\n"})
        subprocess.run(["patch", "--batch", "--forward", "-p1"], input=THROUGH_LINK.encode(), cwd=repo.root,
                       capture_output=True, check=True)
        assert (repo.root / ".git" / "hooks" / "post-checkout").exists()


def test_paths_through_a_link_the_patch_deletes_only_after_the_deletion() -> None:
    gone = "diff --git a/d b/d\ndeleted file mode 120000\n--- a/d\n+++ /dev/null\n@@ -1 +0,0 @@\n-/etc\n" + NO_EOL
    assert problems(gone + NEW_FILE.format("d/x")) == []  # d is a plain directory by then
    assert "path 'd/x' goes through the symlink 'd'" in refusal(NEW_FILE.format("d/x") + gone)


def test_a_directory_renamed_and_replaced_by_a_link_passes(make_repo) -> None:
    repo = make_repo()
    repo.commit("init", {"plugins/osx/a.zsh": "a\n", "plugins/osx/README.md": "r\n"})
    repo("mv", "plugins/osx", "plugins/macos")
    os.symlink("macos", repo.root / "plugins" / "osx")
    repo("add", "-A")
    patch = repo("diff", "--cached", "-M", "HEAD").decode()
    assert "rename from plugins/osx/a.zsh" in patch and "new file mode 120000" in patch
    assert problems(patch) == []


def test_a_directory_replaced_by_a_link_passes(make_repo) -> None:
    repo = make_repo()
    repo.commit("init", {"v2/filter/core.py": "c\n", "v2/filter/__init__.py": "", "lib/filter/core.py": "c\n"})
    shutil.rmtree(repo.root / "v2" / "filter")
    os.symlink("../lib/filter", repo.root / "v2" / "filter")
    repo("add", "-A")
    patch = repo("diff", "--cached", "HEAD").decode()
    assert patch.index("new file mode 120000") < patch.index("deleted file mode 100644")  # git's order
    assert problems(patch) == []
    assert "goes through the symlink 'v2/filter'" in refusal(patch + NEW_FILE.format("v2/filter/new.py"))


def test_a_file_replaced_by_a_link_and_back_passes(make_repo) -> None:
    repo = make_repo()
    repo.commit("init", {"x": "plain\n", "y.txt": "y\n"})
    (repo.root / "x").unlink()
    os.symlink("y.txt", repo.root / "x")
    repo.commit("to link")
    forward = repo("diff", "HEAD~1", "HEAD").decode()
    assert "deleted file mode 100644" in forward and "new file mode 120000" in forward
    assert problems(forward) == []
    assert problems(repo("diff", "HEAD", "HEAD~1").decode()) == []


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("diff --git a/x.txt b/x.txt\nold mode 100644\nnew mode 120000\n", "without a content change"),
        ("diff --git a/l b/m\nsimilarity index 100%\nrename from l\nrename to m\nindex 1..2 120000\n", "renamed"),
        ("diff --git a/l b/l\nindex 1..2 120000\n--- a/l\n+++ b/l\n@@ -1,2 +1,2 @@\n x\n-a\n+../..\n", "whole old"),
    ],
)
def test_a_link_whose_target_is_not_in_the_patch_is_refused(patch: str, expected: str) -> None:
    assert expected in refusal(patch)


# ---- symlinks in git binary hunks ----------------------------------------------------------------------------


def git_literal(data: bytes) -> str:
    """``data`` as git's binary ``literal`` hunk: zlib, then base85 lines led by their byte count."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
    packed, lines = zlib.compress(data), []
    for i in range(0, len(packed), 52):
        chunk = packed[i : i + 52]
        line = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[len(chunk) - 1]
        chunk += b"\0" * (-len(chunk) % 4)
        for j in range(0, len(chunk), 4):
            value = int.from_bytes(chunk[j : j + 4], "big")
            line += "".join(alphabet[value // 85**k % 85] for k in range(4, -1, -1))
        lines.append(line)
    return f"literal {len(data)}\n" + "\n".join(lines) + "\n"


def binary_link(target: bytes, hunk: str | None = None) -> str:
    new = hashlib.sha1(b"blob %d\0" % len(target) + target).hexdigest()
    return (f"diff --git a/lnk b/lnk\nnew file mode 120000\nindex {'0' * 40}..{new}\nGIT binary patch\n"
            f"{hunk or git_literal(target)}\nliteral 0\nHcmV?d00001\n\n")


def test_a_link_in_a_binary_hunk_is_decoded_and_checked(make_repo) -> None:
    patch = binary_link(b"../../../etc")
    assert refusal(patch) == "symlink 'lnk' points outside the repository ('../../../etc')"
    assert problems(binary_link(b"src/pkg/mod.py")) == []
    assert problems(binary_link(b"s" * 300)) == []  # several base85 lines
    repo = make_repo()
    repo.commit("init", {"src/pkg/mod.py": "x = 1\n"})
    repo("apply", input=patch.encode())  # git does create it
    assert os.readlink(repo.root / "lnk") == "../../../etc"


def test_a_binary_link_that_cannot_be_checked_is_refused() -> None:
    assert "binary delta hunk" in refusal(binary_link(b"x", hunk="delta 12\nPc%0MI)7Jx|)RJTX4~qic\n"))
    assert "does not decode" in refusal(binary_link(b"x", hunk="literal 12\nPc%0MI)7Jx|)RJTX4~qi\n"))
