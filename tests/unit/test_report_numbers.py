"""``factory report``'s numbers: the SQL aggregates, the evaluation summaries, the evidence and the SVG charts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from factory.pipeline.repair_report import mcnemar, wilson
from factory.report import charts, evals, evidence, pages, queries
from factory.report.queries import Histogram
from factory.store import Store
from tests.unit.report_store import BEFORE_LOG, F2P, P2P, fill

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "f.duckdb") as s:
        fill(s, tmp_path / "logs")
        yield s


def test_overview_counts_are_the_status_counts_and_the_funnel_narrows(store: Store) -> None:
    view = queries.overview(store)
    assert view.counts == store.counts()
    assert view.counts == {"valid": 1, "rejected": {"fail2fail": 1, "flaky": 1}, "error": {"docker": 1},
                           "build_failed": 1, "pending": 1}
    assert view.funnel == [("candidates", 6), ("environment built", 3), ("verdict reached", 3), ("valid", 1)]
    assert sorted(view.reasons) == [("build_failed(env_build)", 1), ("error(docker)", 1), ("rejected(fail2fail)", 1),
                                    ("rejected(flaky)", 1)]


def test_yield_per_repository_and_builders(store: Store) -> None:
    repos = {r["repo"]: r for r in queries.repo_yield(store)}
    assert {k: repos["acme/lib"][k] for k in ("candidates", "valid", "rejected", "build_failed", "error", "pending")} \
        == {"candidates": 5, "valid": 1, "rejected": 2, "build_failed": 1, "error": 0, "pending": 1}
    assert repos["acme/lib"]["yield"] == pytest.approx(0.2)
    assert repos["other/app"]["error"] == 1 and repos["other/app"]["yield"] == 0
    assert [(b["kind"], b["builder"], b["instances"], b["valid"]) for b in queries.builders(store)] == [
        ("heuristic", "heuristic", 3, 1), ("llm", "llm:qwen", 1, 0), ("memory", "memory", 1, 0)]


def test_llm_cost_per_model_and_role(store: Store) -> None:
    rows = queries.llm_by_model(store)
    explorer = next(r for r in rows if r["role"] == "explorer")
    assert (explorer["calls"], explorer["usd"], explorer["tokens_in"]) == (2, pytest.approx(0.75), 200)


def test_histogram_bins_every_value_once(store: Store) -> None:
    h = queries.histogram(store, "validations", "seconds", bins=4)  # 2, 4, ..., 18
    assert h.n == 9 and sum(h.counts) == 9 and h.total == pytest.approx(90)
    assert h.edges == pytest.approx([2, 6, 10, 14, 18]) and h.counts == [2, 2, 2, 3]  # the maximum falls in the last
    assert h.median == pytest.approx(10)
    built = queries.histogram(store, "environments", "seconds", where="status = 'built'")
    assert built.n == 2 and built.total == pytest.approx(40)
    empty = queries.histogram(store, "attempts", "seconds", where="FALSE")
    assert (empty.n, empty.counts) == (0, [])


def test_eval_runs_matrix_and_the_repair_ablation(store: Store) -> None:
    runs = evals.runs(store)
    plain = evals.plain_runs(runs)
    assert [r.run_id for r in plain][0] == "gold-1" and not any(r.run_id.startswith("train-") for r in plain)
    matrix = dict(evals.matrix(store, plain))
    assert matrix["acme__lib-1"][0] == "resolved" and matrix["acme__lib-2"][0] == ""  # gold ran on one instance
    found = evals.repair_evaluations(runs)
    assert list(found) == ["eval-20240301T120000"]
    table = evals.ablation(store, "eval-20240301T120000", found["eval-20240301T120000"])
    by = {r.config: r for r in table.rows}
    assert {c: (r.run.resolved, r.run.instances) for c, r in by.items()} == {
        "none": (0, 2), "both": (2, 2), "both-0": (0, 2), "both-2": (1, 2)}
    assert by["both"].p_vs_none == pytest.approx(mcnemar([True, True], [False, False])) == pytest.approx(0.5)
    assert by["none"].p_vs_none is None
    assert by["both-0"].applied == 1 and by["both-0"].run.empty == 1
    assert by["both"].calls == 1 and by["both"].tokens_in == 1000  # ledger keys of that configuration only
    assert table.curve == [(0, 0.0, *wilson(0, 2)), (2, 0.5, *wilson(1, 2))]
    assert evals.training_curves(runs) == {"train-20240301T100000": [(1, 1.0), (2, 0.5), (3, 2 / 3), (4, 0.75)]}


def test_instances_stream_merges_every_table_by_instance(store: Store) -> None:
    rows = {r["instance_id"]: r for r in pages.instances(store)}
    assert list(rows) == sorted(rows) and len(rows) == pages.count(store) == 6
    one = rows["acme__lib-1"]
    assert [(r["phase"], r["run_index"]) for r in one["runs"]] == [("before", 0), ("after", 0), ("after", 1)]
    assert one["fail_to_pass"] == F2P and one["pass_to_pass"] == P2P and one["dockerfile"].endswith("# fp-h\n")
    assert [e["run_id"] for e in one["evals"]][0] == "gold-1"
    assert rows["acme__lib-3"]["llm"]["usd"] == pytest.approx(0.75) and rows["acme__lib-1"]["llm"] is None
    assert rows["acme__lib-4"]["attempts"][0]["detail"] == "pip failed: nosuchpkg"
    assert rows["acme__lib-4"]["env_error"].startswith("ERROR: No matching distribution")
    assert rows["acme__lib-5"]["runs"] == [] and rows["acme__lib-5"]["dockerfile"] is None


def test_select_is_read_only(store: Store) -> None:
    with pytest.raises(ValueError):
        list(store.select("DELETE FROM instances"))
    assert store.select_one("SELECT count(*) AS n FROM instances")["n"] == 6


def test_the_decisive_run_explains_the_verdict() -> None:
    before = {"phase": "before", "run_index": 0, "verdict": "fail", "tests": {"a": "failed"}}
    after = [{"phase": "after", "run_index": i, "verdict": v, "tests": {"a": t}}
             for i, (v, t) in enumerate([("pass", "passed"), ("fail", "failed")])]
    runs = [before, *after]
    assert evidence.decisive_run("valid", "", runs) is before
    assert evidence.decisive_run("rejected", "flaky", runs) is after[1]
    assert evidence.decisive_run("rejected", "fail2fail", runs) is after[1]
    assert evidence.decisive_run("rejected", "pass2pass", runs) is before
    patched = {**after[0], "patch_error": "gold_patch"}
    assert evidence.decisive_run("rejected", "gold_patch_failed", [before, patched]) is patched
    broken = {**after[0], "infra_error": "oom"}
    assert evidence.decisive_run("error", "oom", [before, broken]) is broken
    assert evidence.decisive_run("build_failed", "env_build", []) is None


def test_the_excerpt_is_the_short_summary_else_the_tail() -> None:
    assert evidence.excerpt(BEFORE_LOG).splitlines()[1] == "FAILED tests/test_m.py::test_new - assert 1 == 2"
    long = "\n".join(f"line {n}" for n in range(500))
    cut = evidence.excerpt(long).splitlines()
    assert cut[-1] == "line 499" and len(cut) == evidence.EXCERPT_LINES
    trace = "noise\nTraceback (most recent call last):\n  File x\nValueError: boom\n"
    assert evidence.excerpt(trace).startswith("Traceback") and "noise" not in evidence.excerpt(trace)


def test_diff_lines_are_classified_and_cut() -> None:
    kinds = [d.kind for d in evidence.diff_lines("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n c\n")]
    assert kinds == ["file", "file", "file", "hunk", "del", "add", "ctx"]
    cut = evidence.diff_lines("+x\n" * 10, limit=4)
    assert len(cut) == 5 and cut[-1].kind == "note" and "6 more lines" in cut[-1].text


def test_outcome_table_puts_fail_to_pass_first() -> None:
    runs = [{"phase": "before", "run_index": 0, "tests": {"z": "failed", "a": "passed", "m": "skipped"}},
            {"phase": "after", "run_index": 0, "tests": {"z": "passed", "a": "passed"}}]
    table = evidence.outcome_table(runs, ["z"], ["a"], [], [], limit=2)
    assert table.runs == ["before #0", "after #0"]
    assert table.rows == [("z", "F2P", ["failed", "passed"]), ("a", "P2P", ["passed", "passed"])]
    assert table.hidden == 1


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))  # well-formed XML, or this raises


def test_bar_lengths_are_proportional_and_labels_escaped() -> None:
    root = _parse(charts.bars([("a<b>&c", 10), ("d", 5), ("e", 0)], "t<itle>"))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "a<b>&c" in texts  # the parsed text is the label itself: it was escaped in the markup
    assert root.find(f"{SVG}title").text == "t<itle>"


def test_stacked_funnel_histogram_and_lines_are_drawn_from_their_numbers() -> None:
    series = ["valid", "rejected", "build_failed", "error", "pending"]
    root = _parse(charts.stacked([("r1", [2, 2, 0, 0, 0]), ("r2", [1, 0, 0, 0, 1])], series, "s"))
    segments = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(segments) == 4  # zero-valued segments are not drawn
    assert float(segments[0].get("width")) == pytest.approx(float(segments[2].get("width")) * 2)
    funnel = _parse(charts.funnel([("candidates", 10), ("valid", 5)], "f"))
    w = [float(r.get("width")) for r in funnel.iter(f"{SVG}rect")]
    assert w[1] == pytest.approx(w[0] / 2)
    hist = _parse(charts.histogram(Histogram([0, 1, 2, 3], [4, 0, 2], 6), "h"))
    heights = [float(r.get("height")) for r in hist.iter(f"{SVG}rect")]
    assert heights[1] == 0 and heights[0] == pytest.approx(2 * heights[2])
    curve = _parse(charts.lines({"both-N": [(0, 0.0, 0.0, 0.5), (10, 1.0, 0.5, 1.0)]}, "c", "N"))
    ys = [float(c.get("cy")) for c in curve.iter(f"{SVG}circle")]
    assert ys[0] > ys[1]  # a higher rate is drawn higher up
    assert "nothing to show" in str(charts.bars([], "empty"))
