"""The environment memory pool (memory_pool.environment) on a real DuckDB file, and `factory memory`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.core.recipe import Recipe
from factory.store import Store
from memory_pool.environment import EnvironmentPool, MemoryEntry, dependency_names

D0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FACTORY = Path(sys.executable).parent / "factory"


def recipe(n: int, python: str = "3.11") -> Recipe:
    return Recipe(
        python_version=python,
        install_commands=[f"pip install -r requirements-{n}.txt"],
        env={"RECIPE": str(n)},
    )


def prove(
    pool: EnvironmentPool,
    r: Recipe,
    *,
    repo: str = "acme/lib",
    instance_id: str = "acme__lib-1",
    date: datetime = D0,
    deps: tuple[str, ...] = ("requests",),
    fingerprint: str | None = None,
    language: str = "python",
    version: str = "1.0",
    builder: str = "heuristic",
) -> MemoryEntry:
    return pool.record_proof(
        repo=repo, language=language, fingerprint=fingerprint or f"fp-{instance_id}",
        image_tag=f"factory/env:{instance_id}", recipe=r, dockerfile=f"FROM base\n# {instance_id} — ü\n",
        dependencies=deps, commit_date=date, version=version, instance_id=instance_id, builder=builder,
    )


def fail(pool: EnvironmentPool, entry: MemoryEntry, times: int) -> None:
    for _ in range(times):
        pool.record_failure(entry.recipe_id)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "pool.duckdb"


@pytest.fixture
def store(db: Path):
    with Store(db) as s:
        yield s


@pytest.fixture
def pool(store: Store) -> EnvironmentPool:
    return EnvironmentPool(store)


# ---- recording ----------------------------------------------------------------------------------


def test_record_proof_twice_merges_into_one_entry(pool: EnvironmentPool, db: Path) -> None:
    r = recipe(1)
    first = prove(pool, r, instance_id="acme__lib-1", date=D0, version="1.0", builder="llm:gpt-x")
    assert (first.successes, first.failures, first.provenance) == (1, 0, ["acme__lib-1"])
    assert first.recipe_id == r.recipe_id()

    second = prove(pool, r, instance_id="acme__lib-2", date=D0 - timedelta(days=3), version="0.9",
                   deps=("Requests", "Flask"), builder="memory")
    assert second.recipe_id == first.recipe_id
    assert second.successes == 2
    assert second.provenance == ["acme__lib-1", "acme__lib-2"]
    # newest proof's artifacts ...
    assert (second.fingerprint, second.image_tag) == ("fp-acme__lib-2", "factory/env:acme__lib-2")
    assert second.dependencies == ["flask", "requests"]
    # ... earliest proof's date and version, the original finder
    assert (second.commit_date, second.version, second.builder) == (D0 - timedelta(days=3), "0.9", "llm:gpt-x")
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at

    third = prove(pool, r, instance_id="acme__lib-1", date=D0 + timedelta(days=9), version="2.0")
    assert third.successes == 2  # the same instance proving it again (a rebuild) is not a new success
    assert third.provenance == ["acme__lib-1", "acme__lib-2"]  # no duplicate ids
    assert (third.commit_date, third.version) == (D0 - timedelta(days=3), "0.9")

    assert pool.entries() == [third]
    pool.store.close()
    with Store(db) as again:  # committed, and read back identically
        assert EnvironmentPool(again).entries() == [third]


def test_concurrent_proofs_lose_no_update(pool: EnvironmentPool) -> None:
    r = recipe(2)

    def worker(k: int) -> None:
        for j in range(5):
            prove(pool, r, instance_id=f"acme__lib-{k}-{j}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [entry] = pool.entries()
    assert entry.successes == 30 and len(entry.provenance) == 30


def test_failures_demote(pool: EnvironmentPool) -> None:
    entry = prove(pool, recipe(1))
    fail(pool, entry, 1)
    assert (pool.get(entry.recipe_id).failures, pool.get(entry.recipe_id).demoted) == (1, False)
    fail(pool, entry, 1)
    assert (pool.get(entry.recipe_id).failures, pool.get(entry.recipe_id).demoted) == (2, True)
    prove(pool, recipe(1), instance_id="acme__lib-9")  # 2 successes, 2 failures: not demoted
    assert pool.get(entry.recipe_id).demoted is False
    pool.record_failure("0" * 64)  # never proven: not remembered
    assert len(pool.entries()) == 1


@pytest.mark.parametrize(
    ("successes", "failures", "demoted"),
    [(0, 0, False), (0, 1, False), (0, 2, True), (1, 2, True), (2, 2, False), (3, 4, True), (5, 1, False)],
)
def test_demoted_rule(successes: int, failures: int, demoted: bool) -> None:
    entry = MemoryEntry(
        recipe_id="a" * 64, repo="r/r", language="python", fingerprint="f", image_tag="t", recipe=recipe(1),
        dockerfile="", dependencies=[], commit_date=D0, version="", provenance=[], successes=successes,
        failures=failures, builder="heuristic", created_at=D0, updated_at=D0,
    )
    assert entry.demoted is demoted


# ---- retrieval ----------------------------------------------------------------------------------


def test_for_repo_nearest_commit_date_first_demoted_last(pool: EnvironmentPool) -> None:
    far = prove(pool, recipe(1), instance_id="a-1", date=D0 - timedelta(days=10))
    near = prove(pool, recipe(2), instance_id="a-2", date=D0 + timedelta(days=2))
    nearest_but_demoted = prove(pool, recipe(3), instance_id="a-3", date=D0 - timedelta(hours=1))
    fail(pool, nearest_but_demoted, 2)
    farthest = prove(pool, recipe(4), instance_id="a-4", date=D0 + timedelta(days=30))
    prove(pool, recipe(5), repo="other/repo", instance_id="o-1", date=D0)

    ids = [e.recipe_id for e in pool.for_repo("acme/lib", D0, limit=10)]
    assert ids == [near.recipe_id, far.recipe_id, farthest.recipe_id, nearest_but_demoted.recipe_id]
    assert [e.recipe_id for e in pool.for_repo("acme/lib", D0)] == ids[:3]  # default limit 3
    # a naive date counts as UTC
    assert [e.recipe_id for e in pool.for_repo("acme/lib", D0.replace(tzinfo=None), limit=1)] == [near.recipe_id]
    assert pool.for_repo("nobody/here", D0) == []


def test_for_repo_ties_broken_by_successes(pool: EnvironmentPool) -> None:
    once = prove(pool, recipe(1), instance_id="a-1", date=D0 - timedelta(days=5))
    twice = prove(pool, recipe(2), instance_id="a-2", date=D0 + timedelta(days=5))
    prove(pool, recipe(2), instance_id="a-3", date=D0 + timedelta(days=5))
    assert [e.recipe_id for e in pool.for_repo("acme/lib", D0)] == [twice.recipe_id, once.recipe_id]


def test_by_fingerprint_prefers_successes_and_ignores_demoted(pool: EnvironmentPool) -> None:
    strong = prove(pool, recipe(1), instance_id="a-1", fingerprint="shared")
    for k in range(2, 5):
        prove(pool, recipe(1), instance_id=f"a-{k}", fingerprint="shared")
    fail(pool, strong, 5)  # 4 successes, 5 failures: demoted despite most successes
    weak = prove(pool, recipe(2), instance_id="b-1", fingerprint="shared")
    prove(pool, recipe(3), instance_id="c-1", fingerprint="other")

    found = pool.by_fingerprint("shared")
    assert found is not None and found.recipe_id == weak.recipe_id
    fail(pool, weak, 2)
    assert pool.by_fingerprint("shared") is None
    assert pool.by_fingerprint("missing") is None

    # among usable entries the one with most successes wins, whichever id sorts first
    more = prove(pool, recipe(6), instance_id="d-1", fingerprint="other")
    prove(pool, recipe(6), instance_id="d-2", fingerprint="other")
    found = pool.by_fingerprint("other")
    assert found is not None and found.recipe_id == more.recipe_id
    for k in range(2, 4):
        prove(pool, recipe(3), instance_id=f"c-{k}", fingerprint="other")
    found = pool.by_fingerprint("other")
    assert found is not None and found.recipe_id == recipe(3).recipe_id() and found.successes == 3


def test_similar_ranks_other_repos_by_jaccard(pool: EnvironmentPool) -> None:
    same = prove(pool, recipe(1), repo="me/mine", instance_id="m-1", deps=("foo-bar", "numpy", "pandas"))
    exact = prove(pool, recipe(2), repo="x/x", instance_id="x-1", deps=("Foo_Bar", "numpy", "pandas"))
    two_of_four = prove(pool, recipe(3), repo="y/y", instance_id="y-1", deps=("numpy", "pandas", "scipy"))
    one_of_four = prove(pool, recipe(4), repo="z/z", instance_id="z-1", deps=("foo.bar", "django"))
    prove(pool, recipe(5), repo="n/n", instance_id="n-1", deps=("django",))  # no overlap
    demoted = prove(pool, recipe(6), repo="d/d", instance_id="d-1", deps=("foo-bar", "numpy", "pandas"))
    fail(pool, demoted, 2)
    prove(pool, recipe(7), repo="j/j", language="javascript", instance_id="j-1", deps=("foo-bar", "numpy", "pandas"))

    query = {"foo_bar", "NumPy", "pandas"}
    ranked = pool.similar("python", query, exclude_repo="me/mine", limit=10)
    assert [(e.recipe_id, round(s, 3)) for e, s in ranked] == [
        (exact.recipe_id, 1.0),
        (two_of_four.recipe_id, 0.5),
        (one_of_four.recipe_id, 0.25),
    ]
    assert [e.recipe_id for e, _ in pool.similar("python", query, exclude_repo="me/mine", limit=2)] == [
        exact.recipe_id, two_of_four.recipe_id,
    ]
    with_own = pool.similar("python", query, limit=2)
    assert {e.recipe_id for e, _ in with_own} == {same.recipe_id, exact.recipe_id}
    raw = {"Foo_Bar>=1.0", 'numpy==1.26; python_version >= "3.9"', "pandas[excel]", "# comment"}  # requirement strings
    assert [e.recipe_id for e, _ in pool.similar("python", raw, exclude_repo="me/mine", limit=1)] == [exact.recipe_id]
    assert pool.similar("python", set(), exclude_repo="me/mine") == []
    assert pool.similar("rust", query) == []


# ---- dependency names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Django>=3.2,<4"], {"django"}),
        (['requests[security,socks] >= 2.0 ; python_version < "3.8"'], {"requests"}),
        (["zope.interface==5.1", "Foo__Bar", "ruamel.yaml"], {"zope-interface", "foo-bar", "ruamel-yaml"}),
        (["# a comment", "", "   ", "attrs  # pinned later"], {"attrs"}),
        (["-r base.txt", "-c constraints.txt", "--index-url https://pypi.example/simple", "-i x"], set()),
        (["-e .", "-e ./sub[dev]", "--editable=git+https://github.com/o/r.git#egg=My_Pkg"], {"my-pkg"}),
        (["numpy==1.26.4 --hash=sha256:abc --hash=sha256:def"], {"numpy"}),
        (["six==1.16 \\", "    --hash=sha256:abc", "tomli"], {"six", "tomli"}),
        (["pkg @ https://example.com/pkg-1.0.tar.gz", "./local/dir", "https://h/x/foo_bar-1.0-py3-none-any.whl"],
         {"pkg", "foo-bar"}),
        (["git+https://github.com/o/r.git@v1#egg=Other.Name"], {"other-name"}),
        (["see the README for details"], set()),
        (["pytest\nPyYAML>=6\n-r dev.txt\n"], {"pytest", "pyyaml"}),
    ],
)
def test_dependency_names(lines: list[str], expected: set[str]) -> None:
    assert dependency_names(lines) == expected


# ---- get ----------------------------------------------------------------------------------------


def test_get_by_prefix(pool: EnvironmentPool) -> None:
    entries = [prove(pool, recipe(n), instance_id=f"a-{n}") for n in range(40)]  # 40 ids: a first digit repeats
    one = entries[0]
    assert pool.get(one.recipe_id[:12].upper()) == one
    by_first: dict[str, list[str]] = {}
    for e in entries:
        by_first.setdefault(e.recipe_id[0], []).append(e.recipe_id)
    shared = next(k for k, ids in by_first.items() if len(ids) > 1)
    with pytest.raises(UserError, match="memory entries start with"):
        pool.get(shared)
    unused = next(c for c in "0123456789abcdef" if c not in by_first) if len(by_first) < 16 else None
    if unused is not None:
        with pytest.raises(UserError, match="no memory entry id starts with"):
            pool.get(unused)
    with pytest.raises(UserError, match="no memory entry id starts with"):
        pool.get("f" * 64 if one.recipe_id != "f" * 64 else "0" * 64)
    for bad in ("", "xyz", "a%", "a_"):
        with pytest.raises(UserError, match="hexadecimal"):
            pool.get(bad)


# ---- export / import ----------------------------------------------------------------------------


def _populate(pool: EnvironmentPool) -> None:
    a = prove(pool, recipe(1), instance_id="acme__lib-1", deps=("requests", "flask"))
    prove(pool, recipe(1), instance_id="acme__lib-2", date=D0 - timedelta(days=1))
    fail(pool, a, 1)
    b = prove(pool, recipe(2, "3.9"), repo="other/thing", instance_id="other__thing-7", builder="llm:m")
    fail(pool, b, 3)
    prove(pool, recipe(3, "3.13"), repo="other/thing", instance_id="other__thing-8", deps=())


def test_export_import_round_trips_exactly(pool: EnvironmentPool, tmp_path: Path) -> None:
    _populate(pool)
    before = pool.entries()
    first = tmp_path / "out" / "pool.jsonl"
    assert pool.export(first) == 3
    lines = first.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["recipe_id"] for line in lines]
    assert ids == sorted(ids) and len(ids) == 3
    assert not list(first.parent.glob(".*tmp*"))  # no temp file left behind

    with Store(tmp_path / "fresh.duckdb") as fresh:
        other = EnvironmentPool(fresh)
        report = other.import_(first)
        assert (report.added, report.merged, report.bad_lines) == (3, 0, [])
        assert other.entries() == before
        second = tmp_path / "again.jsonl"
        other.export(second)
    assert second.read_bytes() == first.read_bytes()


def _line(entry: MemoryEntry, **changes: object) -> str:
    data = entry.model_dump(mode="json")
    data.update(changes)
    return json.dumps(data)


def test_import_reports_bad_lines_and_keeps_the_rest(pool: EnvironmentPool, tmp_path: Path) -> None:
    kept = prove(pool, recipe(1), instance_id="acme__lib-1")
    prove(pool, recipe(1), instance_id="acme__lib-2")
    untouched = prove(pool, recipe(9), repo="keep/me", instance_id="keep__me-1")
    before_kept, before_untouched = pool.get(kept.recipe_id), pool.get(untouched.recipe_id)

    # entries written by another team's pool
    with Store(tmp_path / "theirs.duckdb") as theirs_store:
        theirs = EnvironmentPool(theirs_store)
        same = prove(theirs, recipe(1), instance_id="acme__lib-2", date=D0 - timedelta(days=40), version="0.1",
                     fingerprint="their-fp")
        prove(theirs, recipe(1), instance_id="acme__lib-3")
        same = theirs.get(same.recipe_id)
        fail(theirs, same, 1)
        same = theirs.get(same.recipe_id)
        new = prove(theirs, recipe(2), repo="new/repo", instance_id="new__repo-1")

    missing = same.model_dump(mode="json")
    del missing["recipe"], missing["dockerfile"]
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join([
            _line(new),                                   # 1 ok, new
            '{"recipe_id": "abc", "repo": ',              # 2 broken JSON
            "",                                           # 3 blank: ignored
            json.dumps(missing),                          # 4 missing fields
            _line(same),                                  # 5 ok, merges into kept
            "[1, 2, 3]",                                  # 6 not an object
            _line(new, recipe={**new.recipe.model_dump(), "python_version": "2.7"}),  # 7 invalid value
            _line(new, successes=-1),                     # 8 invalid value
        ]) + "\n",
        encoding="utf-8",
    )
    report = pool.import_(path)
    assert (report.added, report.merged) == (1, 1)
    assert [n for n, _ in report.bad_lines] == [2, 4, 6, 7, 8]
    problems = dict(report.bad_lines)
    assert "not valid JSON" in problems[2]
    assert "missing field(s)" in problems[4] and "recipe" in problems[4] and "dockerfile" in problems[4]
    assert "python_version" in problems[7]
    assert "successes" in problems[8]

    merged = pool.get(kept.recipe_id)
    assert merged.successes == before_kept.successes + 2
    assert merged.failures == before_kept.failures + 1
    assert merged.provenance == ["acme__lib-1", "acme__lib-2", "acme__lib-3"]
    assert (merged.commit_date, merged.version) == (D0 - timedelta(days=40), "0.1")
    assert (merged.fingerprint, merged.image_tag) == (before_kept.fingerprint, before_kept.image_tag)  # local facts
    assert merged.created_at == before_kept.created_at
    assert pool.get(untouched.recipe_id) == before_untouched
    assert pool.get(new.recipe_id) == new
    assert len(pool.entries()) == 3


def test_import_rekeys_an_edited_recipe(pool: EnvironmentPool, tmp_path: Path) -> None:
    entry = prove(pool, recipe(1))
    edited = recipe(2)
    path = tmp_path / "edited.jsonl"
    path.write_text(_line(entry, recipe=edited.model_dump()) + "\n")  # recipe changed, old id kept
    report = pool.import_(path)
    assert (report.added, report.merged) == (1, 0)
    assert pool.get(edited.recipe_id()).recipe == edited
    assert pool.get(entry.recipe_id) == entry


def test_import_missing_file_is_a_user_error(pool: EnvironmentPool, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        pool.import_(tmp_path / "nope.jsonl")


# ---- CLI ----------------------------------------------------------------------------------------


def factory(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FACTORY_DB", "FACTORY_HOME")}
    return subprocess.run(
        [str(FACTORY), "memory", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_ls_show_export_import(pool: EnvironmentPool, db: Path, tmp_path: Path) -> None:
    _populate(pool)
    entries = pool.entries()
    pool.store.close()  # the CLI opens the file itself

    listed = factory("ls", "--json", "--db", str(db), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["recipe_id"] for r in rows] == [e.recipe_id for e in entries]
    assert set(rows[0]) == {
        "recipe_id", "repo", "language", "python_version", "version", "commit_date", "fingerprint", "image_tag",
        "successes", "failures", "demoted", "builder", "provenance", "dependencies",
    }
    by_id = {r["recipe_id"]: r for r in rows}
    for e in entries:
        row = by_id[e.recipe_id]
        assert (row["successes"], row["failures"], row["demoted"]) == (e.successes, e.failures, e.demoted)
        assert (row["provenance"], row["python_version"]) == (e.provenance, e.recipe.python_version)
    assert sum(r["demoted"] for r in rows) == 1

    only = factory("ls", "--repo", "other/thing", "--json", "--db", str(db), cwd=tmp_path)
    assert {r["repo"] for r in json.loads(only.stdout)} == {"other/thing"}

    table = factory("ls", "--db", str(db), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for e in entries:
        assert e.recipe_id[:12] in table.stdout and e.recipe_id[:13] not in table.stdout
    assert "2/1" in table.stdout and "1/3" in table.stdout

    target = next(e for e in entries if len(e.provenance) == 2)
    shown = factory("show", target.recipe_id[:10], "--db", str(db), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert target.recipe_id in shown.stdout
    assert "pip install -r requirements-1.txt" in shown.stdout  # recipe JSON
    assert target.dockerfile.strip() in shown.stdout
    assert "acme__lib-1" in shown.stdout and "acme__lib-2" in shown.stdout
    as_json = factory("show", target.recipe_id[:10], "--json", "--db", str(db), cwd=tmp_path)
    assert MemoryEntry.model_validate_json(as_json.stdout) == target

    unknown = factory("show", "zz", "--db", str(db), cwd=tmp_path)
    assert unknown.returncode == 2 and "error:" in unknown.stderr and "fix:" in unknown.stderr

    dump = tmp_path / "shared.jsonl"
    exported = factory("export", "--out", str(dump), "--db", str(db), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "wrote 3 memory entries" in exported.stdout

    other_db = tmp_path / "other.duckdb"
    imported = factory("import", str(dump), "--db", str(other_db), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "3 added, 0 merged" in imported.stdout
    again = factory("import", str(dump), "--db", str(other_db), cwd=tmp_path)
    assert "0 added, 3 merged" in again.stdout

    broken = tmp_path / "broken.jsonl"
    broken.write_text(dump.read_text().splitlines()[0] + "\n{not json\n\n{}\n")
    bad = factory("import", str(broken), "--db", str(tmp_path / "third.duckdb"), cwd=tmp_path)
    assert bad.returncode == 1
    assert "1 added, 0 merged, 2 line(s) skipped" in bad.stdout
    assert "line 2:" in bad.stderr and "line 4:" in bad.stderr and "line 3:" not in bad.stderr

    missing = factory("import", str(tmp_path / "nope.jsonl"), "--db", str(db), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
