"""The repair agent's experience memory (memory_pool.experience) on a real DuckDB file, and its views in
`factory memory`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from factory.core.errors import UserError
from factory.store import Store
from factory.store import migrations as migrations_module
from memory_pool.environment import EnvironmentPool
from memory_pool.experience import (
    OUTPUT_LIMIT,
    Add,
    Case,
    CaseCost,
    CaseProvenance,
    Contradict,
    ExperienceError,
    ExperienceMemory,
    FrozenMemory,
    Insight,
    Merge,
    Retire,
    SplitGuard,
    Support,
    case_id_for,
    task_identities,
)
from tests.unit.test_memory_pool import prove, recipe

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
FACTORY = Path(sys.executable).parent / "factory"


class Clock:
    """A clock that moves one minute per reading, so "oldest first" is decided by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def case(n: int = 1, *, run: str = "train-1", split: str = "train", outcome: str = "resolved",
         repo: str = "acme/lib", pr: int | None = None, commit: str | None = None, **changes: object) -> Case:
    fields: dict = {
        "instance_id": f"{repo.replace('/', '__')}-{n}",
        "repo": repo,
        "pr_number": pr if pr is not None else 100 + n,
        "base_commit": commit or f"{n:040x}",
        "issue_created_at": T0 + timedelta(days=n),
        "issue_text": f"Crash {n} in parse_config when the file is empty",
        "stage_notes": {"reproduce": "empty file raises KeyError", "patch": "guard the empty dict"},
        "files": ["src/lib/config.py", "src/lib/config.py", "src/lib/io.py"],
        "functions": ["parse_config", "read_file"],
        "reproduction": "from lib.config import parse_config\nparse_config('')\n",
        "reproduction_output": "Traceback (most recent call last):\nKeyError: 'name'\n",
        "candidate_patches": ["diff --git a/src/lib/config.py b/src/lib/config.py\n+# a\n", "diff b\n"],
        "submitted_patch": "diff --git a/src/lib/config.py b/src/lib/config.py\n+# a\n",
        "outcome": outcome,
        "cost": CaseCost(calls=7, tokens_in=12000, tokens_out=900, usd=0.042, seconds=81.5),
        "provenance": CaseProvenance(run_id=run, model="gpt-x", config="both", split=split,
                                     written_at=T0 + timedelta(days=30)),
    }
    fields.update(changes)
    return Case(**fields)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "experience.duckdb"


@pytest.fixture
def store(db: Path):
    with Store(db) as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(store: Store, clock: Clock) -> ExperienceMemory:
    return ExperienceMemory(store, clock=clock)


# ---- migration ----------------------------------------------------------------------------------


def test_m005_is_appended_and_applies_to_an_existing_db(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [m.__name__ for m in migrations_module.MIGRATIONS]
    assert names[4] == "m005_experience"
    assert names[:4] == ["m001_initial", "m002_llm_ledger_and_environment_memory", "m003_eval_results",
                         "m004_source_cursors"]  # released ones stay first, in order

    # a file made before the experience memory existed, with data in it
    monkeypatch.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:4])
    with Store(db) as old:
        entry = prove(EnvironmentPool(old), recipe(1))
        assert "m005_experience" not in old.migrations()
    monkeypatch.undo()

    with Store(db) as s:
        assert s.migrations()[4] == "m005_experience"
        assert EnvironmentPool(s).entries() == [entry]  # the data survived
        memory = ExperienceMemory(s)
        assert (memory.cases(), memory.insights(), memory.log()) == ([], [], [])
        assert memory.add_case(case(1)) is True
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        applied = [r[0] for r in con.execute("SELECT name FROM _migrations WHERE name = 'm005_experience'").fetchall()]
    finally:
        con.close()
    assert {"experience_cases", "experience_insights", "experience_ops"} <= tables
    assert applied == ["m005_experience"]


# ---- cases --------------------------------------------------------------------------------------


def test_case_round_trip(memory: ExperienceMemory, db: Path) -> None:
    original = case(1)
    assert original.case_id == case_id_for("train-1", "acme__lib-1")
    assert original.files == ["src/lib/config.py", "src/lib/io.py"]  # duplicates dropped
    assert original.positive is True
    assert memory.add_case(original) is True
    assert memory.case(original.case_id) == original
    memory.store.close()
    with Store(db) as again:
        loaded = ExperienceMemory(again).case(original.case_id)
    assert loaded == original
    assert loaded.cost.usd == 0.042 and loaded.provenance.split == "train"
    assert loaded.stage_notes == {"reproduce": "empty file raises KeyError", "patch": "guard the empty dict"}
    assert loaded.issue_created_at == T0 + timedelta(days=1) and loaded.issue_created_at.tzinfo is not None


def test_case_id_is_run_and_instance(memory: ExperienceMemory) -> None:
    assert case(1).case_id == case(1, outcome="unresolved").case_id
    assert case(1).case_id != case(1, run="train-2").case_id != case(2).case_id
    assert memory.add_case(case(1)) is True
    assert memory.add_case(case(1, outcome="unresolved")) is False  # same run and task: replaced, not added
    [stored] = memory.cases()
    assert (stored.outcome, stored.positive) == ("unresolved", False)
    with pytest.raises(ValidationError, match="is not the id of run"):
        case(1, case_id="0" * 24)
    with pytest.raises(ExperienceError, match="no experience case"):
        memory.case("f" * 24)


@pytest.mark.parametrize(("outcome", "positive"), [
    ("resolved", True), ("self_verified", True), ("unresolved", False), ("error", False), ("empty", False),
    ("self_failed", False),
])
def test_positive_follows_the_outcome(outcome: str, positive: bool) -> None:
    assert case(1, outcome=outcome).positive is positive


def test_reproduction_output_is_bounded_head_and_tail() -> None:
    output = "HEAD-START\n" + "x" * 20_000 + "\nKeyError: 'final frame'\n"
    stored = case(1, reproduction_output=output).reproduction_output
    assert len(stored) <= OUTPUT_LIMIT
    assert stored.startswith("HEAD-START") and stored.endswith("KeyError: 'final frame'\n")
    assert "characters cut" in stored
    assert case(1, reproduction_output=stored).reproduction_output == stored  # bounding again changes nothing
    assert case(1, reproduction_output="short").reproduction_output == "short"


def test_identities_and_search_text() -> None:
    c = case(3, pr=42, commit="c" * 40)
    assert c.identities() == frozenset({"instance:acme__lib-3", "pr:acme/lib#42", f"commit:{'c' * 40}"})
    assert case(3, pr_number=None).identities() == frozenset({"instance:acme__lib-3", f"commit:{3:040x}"})
    long = case(3, reproduction_output="EARLY-LINE\n" + "y" * 7000 + "\nValueError: at the end")
    text = long.search_text()
    for part in ("Crash 3 in parse_config", "src/lib/config.py", "src/lib/io.py", "read_file",
                 "ValueError: at the end"):
        assert part in text
    assert "EARLY-LINE" not in text  # only the tail of the output
    assert "guard the empty dict" not in text and "diff --git" not in text  # notes and patches are not matched


def test_cases_filters_and_exclusion(memory: ExperienceMemory) -> None:
    memory.add_case(case(5))
    memory.add_case(case(1, repo="other/thing"))
    memory.add_case(case(3, pr=7))
    memory.add_case(case(2, run="train-2", commit="b" * 40))
    assert [c.instance_id for c in memory.cases()] == ["other__thing-1", "acme__lib-2", "acme__lib-3", "acme__lib-5"]
    assert [c.instance_id for c in memory.cases(repo="acme/lib")] == ["acme__lib-2", "acme__lib-3", "acme__lib-5"]
    assert [c.instance_id for c in memory.cases(before=T0 + timedelta(days=3))] == ["other__thing-1", "acme__lib-2"]
    naive = (T0 + timedelta(days=3)).replace(tzinfo=None)
    assert len(memory.cases(before=naive)) == 2
    assert memory.cases(split="test") == [] and len(memory.cases(split="train")) == 4
    with pytest.raises(UserError, match="unknown split"):
        memory.cases(split="dev")

    # a task excludes cases of the same instance, PR or base commit
    query = task_identities("acme__lib-9", "acme/lib", 7, "b" * 40)  # shares PR 7 with 3, commit with 2
    assert [c.instance_id for c in memory.cases(exclude=query)] == ["other__thing-1", "acme__lib-5"]
    itself = case(5).identities()
    assert "acme__lib-5" not in [c.instance_id for c in memory.cases(exclude=itself)]


# ---- the test-split guard and frozen mode -------------------------------------------------------


@pytest.mark.parametrize("outcome", ["resolved", "unresolved", "error", "empty"])
def test_test_split_never_takes_a_harness_outcome(store: Store, outcome: str) -> None:
    online = ExperienceMemory(store, online=True)
    with pytest.raises(SplitGuard, match="harness outcome") as info:
        online.add_case(case(1, split="test", outcome=outcome))
    assert "self_verified" in info.value.fix
    assert online.cases() == []


def test_test_split_only_online_and_self_verified(store: Store) -> None:
    offline = ExperienceMemory(store)
    with pytest.raises(SplitGuard, match="only in online mode"):
        offline.add_case(case(1, split="test", outcome="self_verified"))
    assert offline.add_case(case(2, split="train", outcome="self_failed")) is True  # train may use either
    online = ExperienceMemory(store, online=True)
    assert online.add_case(case(1, split="test", outcome="self_verified")) is True
    assert online.add_case(case(3, split="test", outcome="self_failed")) is True
    assert [c.outcome for c in online.cases(split="test")] == ["self_verified", "self_failed"]


def test_frozen_memory_refuses_every_write(store: Store, memory: ExperienceMemory, tmp_path: Path) -> None:
    memory.add_case(case(1))
    kept = memory.apply(Add(stage="patch", text="Guard empty inputs.", reason="seed"))
    dump = tmp_path / "exp.jsonl"
    memory.export(dump)
    frozen = ExperienceMemory(store, frozen=True)
    attempts = [
        lambda: frozen.add_case(case(2)),
        lambda: frozen.apply(Add(stage="patch", text="Another lesson.", reason="r")),
        lambda: frozen.apply(Support(insight_id=kept.insight_id, case_id=case(1).case_id, reason="r")),
        lambda: frozen.apply(Retire(insight_id=kept.insight_id, reason="r")),
        lambda: frozen.import_(dump),
    ]
    for attempt in attempts:
        with pytest.raises(FrozenMemory, match="frozen"):
            attempt()
    assert [c.case_id for c in frozen.cases()] == [case(1).case_id]  # reading works, nothing was written
    assert frozen.insights() == [kept] and len(frozen.log()) == 1
    with pytest.raises(ExperienceError, match="both frozen and online"):
        ExperienceMemory(store, frozen=True, online=True)


# ---- insight operations -------------------------------------------------------------------------


def test_add_support_contradict_retire(memory: ExperienceMemory) -> None:
    a = memory.apply(Add(stage="localize", text="  Read the traceback's last frame first. ",
                         case_ids=["c1", "c2", "c1"], reason="drawn from two resolved cases"))
    assert (a.text, a.support, a.contradiction, a.case_ids, a.version, a.status) == (
        "Read the traceback's last frame first.", 2, 0, ["c1", "c2"], 1, "active")
    with pytest.raises(ExperienceError, match="has this text already"):
        memory.apply(Add(stage="localize", text="Read the traceback's last frame first.", reason="again"))

    s = memory.apply(Support(insight_id=a.insight_id, case_id="c3", reason="c3 resolved following it"))
    assert (s.support, s.case_ids, s.version) == (3, ["c1", "c2", "c3"], 2)
    again = memory.apply(Support(insight_id=a.insight_id, case_id="c3", reason="counted twice?"))
    assert (again.support, again.version) == (3, 2)  # one case counts once
    c = memory.apply(Contradict(insight_id=a.insight_id, case_id="c4", reason="c4 failed following it"))
    assert (c.support, c.contradiction, c.case_ids[-1], c.version, c.score) == (3, 1, "c4", 3, 2)
    r = memory.apply(Retire(insight_id=a.insight_id, reason="superseded"))
    assert (r.status, r.version) == ("retired", 4)
    assert memory.insights("localize") == [] and memory.insights("localize", active_only=False) == [r]
    for op in (Retire(insight_id=a.insight_id, reason="x"), Support(insight_id=a.insight_id, case_id="c9", reason="x")):
        with pytest.raises(ExperienceError, match="is retired"):
            memory.apply(op)
    with pytest.raises(ExperienceError, match="no insight"):
        memory.apply(Contradict(insight_id="0" * 24, case_id="c1", reason="x"))
    with pytest.raises(ExperienceError, match="not an insight operation"):
        memory.apply("retire everything")  # type: ignore[arg-type]

    log = memory.log(a.insight_id)
    assert [e.op for e in log] == ["add", "support", "support", "contradict", "retire"]
    assert [e.reason for e in log] == ["drawn from two resolved cases", "c3 resolved following it", "counted twice?",
                                       "c4 failed following it", "superseded"]
    assert [e.detail.get("counted") for e in log[1:4]] == [True, False, True]
    assert [e.case_id for e in log] == ["", "c3", "c3", "c4", ""]
    times = [e.created_at for e in log]
    assert times == sorted(times) and len(set(times)) == 5 and times[-1] == r.updated_at
    with pytest.raises(ValidationError, match="reason"):
        Add(stage="patch", text="t", reason="   ")
    with pytest.raises(ValidationError):
        Add(stage="deploy", text="t", reason="r")


def test_merge(memory: ExperienceMemory) -> None:
    a = memory.apply(Add(stage="patch", text="Keep the public signature.", case_ids=["c1"], reason="r"))
    b = memory.apply(Add(stage="patch", text="Do not change call sites.", case_ids=["c1", "c2"], reason="r"))
    memory.apply(Contradict(insight_id=b.insight_id, case_id="c3", reason="r"))
    memory.apply(Support(insight_id=b.insight_id, case_id="c4", reason="r"))  # b at version 3
    other = memory.apply(Add(stage="select", text="Prefer the smallest passing patch.", reason="r"))

    m = memory.apply(Merge(insight_ids=[a.insight_id, b.insight_id], text="Keep signatures and call sites.",
                           reason="same lesson twice"))
    assert (m.support, m.contradiction) == (1 + 3, 1)
    assert m.case_ids == ["c1", "c2", "c3", "c4"]
    assert m.version == 4 and m.status == "active" and m.insight_id not in (a.insight_id, b.insight_id)
    old_a, old_b = memory.insight(a.insight_id), memory.insight(b.insight_id)
    assert (old_a.status, old_a.version, old_b.status, old_b.version) == ("retired", 2, "retired", 4)
    assert memory.insights("patch") == [m]
    [entry] = [e for e in memory.log() if e.op == "merge"]
    assert entry.insight_ids == [m.insight_id, a.insight_id, b.insight_id] and entry.reason == "same lesson twice"
    assert memory.log(a.insight_id)[-1] == entry  # the merge is in the history of what it merged

    with pytest.raises(ExperienceError, match="is retired"):
        memory.apply(Merge(insight_ids=[a.insight_id], text="x", reason="r"))
    with pytest.raises(ExperienceError, match="different stages"):
        memory.apply(Merge(insight_ids=[m.insight_id, other.insight_id], text="x", reason="r"))
    assert memory.insight(m.insight_id) == m  # a refused merge changed nothing
    with pytest.raises(ValidationError, match="repeated"):
        Merge(insight_ids=[m.insight_id, m.insight_id], text="x", reason="r")


def test_cap_evicts_lowest_score_oldest_first(store: Store, clock: Clock) -> None:
    memory = ExperienceMemory(store, cap=3, clock=clock)
    add = lambda text, stage="patch": memory.apply(Add(stage=stage, text=text, reason=f"add {text}"))  # noqa: E731
    a, b, c = add("a"), add("b"), add("c")
    memory.apply(Support(insight_id=b.insight_id, case_id="k1", reason="r"))
    memory.apply(Support(insight_id=b.insight_id, case_id="k2", reason="r"))
    other_stage = [add(f"s{i}", "select") for i in range(3)]  # the cap is per stage

    d = add("d")  # a and c score 0, a is older: a goes
    assert memory.insight(a.insight_id).status == "retired"
    assert [i.text for i in memory.insights("patch")] == ["b", "c", "d"]
    e = add("e")  # c (0, older than d) goes
    assert memory.insight(c.insight_id).status == "retired"
    memory.apply(Contradict(insight_id=e.insight_id, case_id="k3", reason="r"))  # e: -1, the newest
    add("f")  # lowest score wins over age: e goes, not d
    assert memory.insight(e.insight_id).status == "retired"
    assert [i.text for i in memory.insights("patch")] == ["b", "d", "f"]
    assert memory.insights("select") == other_stage

    evictions = [entry for entry in memory.log(stage="patch") if entry.op == "evict"]
    assert [entry.insight_ids for entry in evictions] == [[a.insight_id], [c.insight_id], [e.insight_id]]
    first = evictions[0]
    assert "cap of 3" in first.reason and "lowest support − contradiction" in first.reason
    assert "oldest first" in first.reason and d.insight_id in first.reason
    assert first.detail == {"cap": 3, "score": 0, "for": d.insight_id}
    ops = [entry.op for entry in memory.log(stage="patch")]
    assert ops[-2:] == ["evict", "add"]  # logged before the add it made room for

    # a refused add at the cap evicts nothing
    with pytest.raises(ExperienceError, match="has this text already"):
        add("b")
    assert [i.text for i in memory.insights("patch")] == ["b", "d", "f"]
    with pytest.raises(ExperienceError, match="at least 1"):
        ExperienceMemory(store, cap=0)


# ---- export / import ----------------------------------------------------------------------------


def _populate(memory: ExperienceMemory) -> None:
    memory.add_case(case(1))
    memory.add_case(case(2, outcome="unresolved", repo="other/thing"))
    a = memory.apply(Add(stage="reproduce", text="Print the exception type.", case_ids=[case(1).case_id], reason="r"))
    memory.apply(Contradict(insight_id=a.insight_id, case_id=case(2).case_id, reason="r"))
    b = memory.apply(Add(stage="patch", text="Smallest diff that fixes it.", reason="r"))
    memory.apply(Retire(insight_id=b.insight_id, reason="too vague"))
    memory.apply(Add(stage="patch", text="Fix the cause, not the symptom.", reason="r"))


def test_export_import_round_trip_and_idempotent(memory: ExperienceMemory, tmp_path: Path) -> None:
    _populate(memory)
    cases, insights = memory.cases(), memory.insights(active_only=False)
    first = tmp_path / "out" / "experience.jsonl"
    assert memory.export(first) == (2, 3)
    lines = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    assert [line["kind"] for line in lines] == ["case", "case", "insight", "insight", "insight"]
    assert not list(first.parent.glob(".*tmp*"))

    with Store(tmp_path / "fresh.duckdb") as fresh:
        other = ExperienceMemory(fresh)
        report = other.import_(first)
        assert (report.cases_added, report.insights_added, report.already, report.bad_lines) == (2, 3, 0, [])
        assert other.cases() == cases
        assert sorted(other.insights(active_only=False), key=lambda i: i.insight_id) == sorted(
            insights, key=lambda i: i.insight_id)
        imports = [e for e in other.log() if e.op == "import"]
        assert len(imports) == 3 and all("experience.jsonl, line " in e.reason for e in imports)

        again = other.import_(first)  # idempotent by id
        assert (again.cases_added, again.insights_added, again.already) == (0, 0, 5)
        assert len(other.log()) == 3
        second = tmp_path / "again.jsonl"
        other.export(second)
    assert second.read_bytes() == first.read_bytes()


def test_import_reports_malformed_lines_by_number(memory: ExperienceMemory, tmp_path: Path) -> None:
    good_case = {"kind": "case", **case(1).model_dump(mode="json")}
    insight = Insight(insight_id="a" * 24, stage="select", text="Run the reproducer on every candidate.",
                      support=2, contradiction=0, case_ids=["x", "y"], created_at=T0, updated_at=T0)
    missing = {"kind": "case", **case(2).model_dump(mode="json")}
    del missing["issue_text"], missing["base_commit"]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([
        json.dumps(good_case),                                                      # 1 ok
        '{"kind": "case", "instance_id": ',                                         # 2 broken JSON
        "",                                                                         # 3 blank
        json.dumps({"kind": "recipe", "x": 1}),                                     # 4 unknown kind
        json.dumps(missing),                                                        # 5 missing fields
        json.dumps({"kind": "insight", **insight.model_dump(mode="json")}),         # 6 ok
        json.dumps({**good_case, "case_id": "0" * 24}),                             # 7 id not its run+instance
        json.dumps({"kind": "case", **case(3, split="test", outcome="resolved").model_dump(mode="json")}),  # 8 leak
        json.dumps({"kind": "insight", **insight.model_dump(mode="json"), "stage": "deploy"}),  # 9 bad stage
        "[1, 2]",                                                                   # 10 not an object
    ]) + "\n", encoding="utf-8")
    report = memory.import_(path)
    assert (report.cases_added, report.insights_added) == (1, 1)
    assert [n for n, _ in report.bad_lines] == [2, 4, 5, 7, 8, 9, 10]
    problems = dict(report.bad_lines)
    assert "not valid JSON" in problems[2]
    assert "kind must be 'case' or 'insight'" in problems[4]
    assert "missing field(s)" in problems[5] and "issue_text" in problems[5] and "base_commit" in problems[5]
    assert "is not the id of run" in problems[7]
    assert "test split" in problems[8] and "online" in problems[8]
    assert problems[9].startswith("insight:") and "stage" in problems[9]
    assert memory.case(case(1).case_id) == case(1) and memory.insight("a" * 24) == insight
    assert len(memory.cases()) == 1
    with pytest.raises(UserError, match="no such file"):
        memory.import_(tmp_path / "nope.jsonl")


def test_import_beyond_the_cap_evicts(store: Store, tmp_path: Path, clock: Clock) -> None:
    with Store(tmp_path / "theirs.duckdb") as theirs_store:
        theirs = ExperienceMemory(theirs_store, clock=clock)
        strong = theirs.apply(Add(stage="patch", text="theirs strong", case_ids=["t1", "t2"], reason="r"))
        weak = theirs.apply(Add(stage="patch", text="theirs weak", reason="r"))
        theirs.export(tmp_path / "theirs.jsonl")
    mine = ExperienceMemory(store, cap=2, clock=clock)
    own = mine.apply(Add(stage="patch", text="mine", case_ids=["m1"], reason="r"))
    report = mine.import_(tmp_path / "theirs.jsonl")
    assert report.insights_added == 2 and report.evicted == [weak.insight_id]
    assert {i.insight_id for i in mine.insights("patch")} == {own.insight_id, strong.insight_id}
    assert [e.op for e in mine.log(weak.insight_id)] == ["import", "evict"]


# ---- CLI ----------------------------------------------------------------------------------------


def factory(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FACTORY_DB", "FACTORY_HOME")}
    return subprocess.run(
        [str(FACTORY), "memory", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_cases_insights_export_import(memory: ExperienceMemory, db: Path, tmp_path: Path) -> None:
    _populate(memory)
    prove(EnvironmentPool(memory.store), recipe(1))
    active = memory.insights()
    memory.store.close()  # the CLI opens the file itself

    listed = factory("cases", "--json", "--db", str(db), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["case_id"] for r in rows] == [case(1).case_id, case(2, repo="other/thing").case_id]
    assert rows[0]["positive"] is True and rows[1]["outcome"] == "unresolved"
    assert rows[0]["provenance"]["run_id"] == "train-1" and rows[0]["cost"]["calls"] == 7
    assert "issue_text" not in rows[0] and "submitted_patch" not in rows[0]
    only = factory("cases", "--repo", "other/thing", "--json", "--db", str(db), cwd=tmp_path)
    assert [r["repo"] for r in json.loads(only.stdout)] == ["other/thing"]
    table = factory("cases", "--db", str(db), cwd=tmp_path)
    assert table.returncode == 0 and case(1).case_id[:12] in table.stdout and "acme__lib-1" in table.stdout
    empty = factory("cases", "--split", "test", "--db", str(db), cwd=tmp_path)
    assert "No experience cases in the test split" in empty.stdout

    insights = factory("insights", "--json", "--db", str(db), cwd=tmp_path)
    assert insights.returncode == 0, insights.stderr
    assert [i["insight_id"] for i in json.loads(insights.stdout)] == [i.insight_id for i in active]
    patch = json.loads(factory("insights", "--stage", "patch", "--all", "--json", "--db", str(db), cwd=tmp_path).stdout)
    assert sorted(i["status"] for i in patch) == ["active", "retired"]
    shown = factory("insights", "--stage", "reproduce", "--db", str(db), cwd=tmp_path)
    assert "Print the exception type." in shown.stdout and "1/1" in shown.stdout
    bad_stage = factory("insights", "--stage", "deploy", "--db", str(db), cwd=tmp_path)
    assert bad_stage.returncode == 2 and "unknown stage" in bad_stage.stderr

    dump = tmp_path / "experience.jsonl"
    exported = factory("export", "--kind", "experience", "--out", str(dump), "--db", str(db), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "wrote 2 case(s) and 3 insight(s)" in exported.stdout
    env_dump = tmp_path / "env.jsonl"
    assert factory("export", "--out", str(env_dump), "--db", str(db), cwd=tmp_path).returncode == 0
    assert [json.loads(line).get("kind") for line in env_dump.read_text().splitlines()] == [None]  # default: env

    other_db = tmp_path / "other.duckdb"
    imported = factory("import", "--kind", "experience", str(dump), "--db", str(other_db), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "2 case(s) and 3 insight(s) added, 0 already here" in imported.stdout
    again = factory("import", "--kind", "experience", str(dump), "--db", str(other_db), cwd=tmp_path)
    assert "0 case(s) and 0 insight(s) added, 5 already here" in again.stdout

    broken = tmp_path / "broken.jsonl"
    broken.write_text(dump.read_text().splitlines()[0] + "\n{not json\n")
    bad = factory("import", "--kind", "experience", str(broken), "--db", str(tmp_path / "third.duckdb"), cwd=tmp_path)
    assert bad.returncode == 1 and "line 2:" in bad.stderr and "1 line(s) skipped" in bad.stdout
    misuse = factory("import", "--online", str(env_dump), "--db", str(other_db), cwd=tmp_path)
    assert misuse.returncode == 2 and "--kind experience" in misuse.stderr
