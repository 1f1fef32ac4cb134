"""What the repair agent recalls (agents.repair.memory): earlier train cases by similarity, never the task's
own instance / PR / commit nor anything dated at or after its issue, insights by mode — and the case an
attempt leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.repair.memory import ExperienceRecall, case_from_attempt
from agents.repair.records import Attempt, Candidate, StageLog, Task
from factory.store import Store
from memory_pool.experience import Add, ExperienceMemory, SplitGuard
from memory_pool.experience.records import CaseProvenance

PATCH = "diff --git a/src/shop/cart.py b/src/shop/cart.py\n--- a/src/shop/cart.py\n+++ b/src/shop/cart.py\n"


def task(iid: str, text: str, created: str, pr: int | None = None, commit: str = "c0") -> Task:
    return Task(instance_id=iid, repo="acme/shop", base_commit=commit, problem_statement=text, created_at=created,
                image="img", pull_number=pr)


def attempt(iid: str) -> Attempt:
    return Attempt(instance_id=iid, config="cfg", model="m", submitted=PATCH, reproduction="assert cart.total() >= 0",
                   candidates=[Candidate(patch=PATCH)], stages=[StageLog(stage="localize", answer="src/shop/cart.py")])


@pytest.fixture
def memory(tmp_path: Path):
    with Store(tmp_path / "m.duckdb") as store:
        memory = ExperienceMemory(store)
        cases = [
            (task("acme__shop-1", "Cart total goes negative with a big discount", "2023-01-10", pr=1, commit="a1"),
             "resolved"),
            (task("acme__shop-2", "Shipping label prints the wrong country code", "2023-02-10", pr=2, commit="a2"),
             "unresolved"),
            (task("acme__shop-9", "Cart total negative when discount exceeds subtotal again", "2024-06-01", pr=9,
                  commit="a9"), "resolved"),
        ]
        for t, outcome in cases:
            memory.add_case(case_from_attempt(attempt(t.instance_id), t, outcome, run_id="train-1", split="train"))
        memory.apply(Add(stage="patch", text="Clamp totals where they are computed, not where shown.",
                         case_ids=[], reason="test"))
        yield memory


def test_recall_finds_the_similar_earlier_case_and_nothing_later_or_its_own(memory) -> None:
    query = task("acme__shop-5", "The cart total is negative when the discount is large", "2023-06-01", pr=5,
                 commit="a5")
    recall = ExperienceRecall(memory, mode="episodic", k=4).for_task(query)
    cases = recall.recall("patch", query.problem_statement, query.identities()).cases
    assert len(cases) >= 1 and "Cart total goes negative" in cases[0]
    assert not any("exceeds subtotal again" in c for c in cases)  # created after the task's issue
    assert "this fix WORKED" in cases[0] and "Its patch:" in cases[0]
    own = task("acme__shop-1", "Cart total goes negative with a big discount", "2023-06-01", pr=1, commit="a1")
    mine = ExperienceRecall(memory, mode="episodic").for_task(own).recall("patch", own.problem_statement,
                                                                       own.identities()).cases
    assert not any("goes negative with a big discount" in c for c in mine)


def test_modes_choose_cases_insights_both_or_none(memory) -> None:
    query = task("acme__shop-5", "cart total negative discount", "2023-06-01", pr=5, commit="a5")
    got = {mode: ExperienceRecall(memory, mode=mode).for_task(query).recall("patch", query.problem_statement,
                                                                           query.identities())
           for mode in ("none", "episodic", "semantic", "both")}
    assert not got["none"]
    assert got["episodic"].cases and not got["episodic"].insights
    assert got["semantic"].insights == ["Clamp totals where they are computed, not where shown."]
    assert not got["semantic"].cases
    assert got["both"].cases and got["both"].insights


def test_a_failed_case_is_shown_as_one_that_failed(memory) -> None:
    query = task("acme__shop-6", "Shipping label country code wrong", "2023-06-01", pr=6, commit="a6")
    cases = ExperienceRecall(memory, mode="episodic").for_task(query).recall(
        "localize", query.problem_statement, query.identities()).cases
    assert "this attempt FAILED (unresolved)" in cases[0]


def test_a_test_split_case_with_a_harness_outcome_is_refused(memory) -> None:
    t = task("acme__shop-7", "x", "2024-07-01", pr=7, commit="a7")
    with pytest.raises(SplitGuard):
        memory.add_case(case_from_attempt(attempt(t.instance_id), t, "resolved", run_id="eval-1", split="test"))


def test_the_case_records_the_attempt(memory) -> None:
    t = task("acme__shop-8", "y", "2023-03-01", pr=8, commit="a8")
    case = case_from_attempt(attempt(t.instance_id), t, "resolved", run_id="r", split="train")
    assert case.files == ["src/shop/cart.py"] and case.positive
    assert case.stage_notes == {"localize": "src/shop/cart.py"}
    assert case.issue_created_at == datetime(2023, 3, 1, tzinfo=UTC)
    assert isinstance(case.provenance, CaseProvenance) and case.provenance.split == "train"


def test_recalled_hits_are_labelled_for_the_reranker(memory) -> None:
    from memory_pool.retrieval import ReRanker

    query = task("acme__shop-5", "The cart total is negative when the discount is large", "2023-06-01", pr=5,
                 commit="a5")
    recall = ExperienceRecall(memory, mode="episodic", reranker=ReRanker()).for_task(query)
    got = recall.recall("patch", query.problem_statement, query.identities())
    assert got.keys and len(got.keys) == len(got.cases)
    labels = recall.labels(query.problem_statement, helped=True)
    assert [label.doc.key for label in labels] == got.keys and all(label.helped for label in labels)
    assert all(label.repo == "acme/shop" for label in labels)
