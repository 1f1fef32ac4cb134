"""Retrieval of past repair cases (memory_pool.retrieval): tokenizer, BM25, dense, RRF, random control,
exclusion and time rules, the k cap, and the learned re-ranker with its fallback and JSON state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from memory_pool.retrieval import (
    FEATURES,
    HARD_MAX_K,
    DenseExtraMissing,
    DenseRetriever,
    Doc,
    HashingEmbedder,
    Hit,
    HybridRetriever,
    Label,
    LexicalRetriever,
    MiniLMEmbedder,
    RandomRetriever,
    ReRanker,
    Retriever,
    file_paths,
    fuse,
    repo_of,
    tokenize,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)

TRACEBACK = """Traceback (most recent call last):
  File "/src/acme/utils/dates.py", line 12, in parse_date
    return table[key]
  File "<stdin>", line 1, in <module>
KeyError: 'year'
"""


def doc(key: str, text: str, *identities: str, days: int | None = 0) -> Doc:
    return Doc(key=key, text=text, identities=frozenset(identities or {f"instance:{key}"}),
               created_at=None if days is None else T0 + timedelta(days=days))


def corpus() -> list[Doc]:
    return [
        doc("a", "Crash when saving the config file in settings/io.py", "instance:acme__x-1", "pr:acme/x#1"),
        doc("b", "frobnicate_widget raises ValueError for empty widget names", "instance:acme__x-2", "pr:acme/x#2",
            days=10),
        doc("c", "The widget view renders twice on resize", "instance:acme__y-3", "pr:acme/y#3", days=20),
        doc("d", "Timezone offset is ignored by parse_date", "instance:acme__y-4", "commit:abc123", days=30),
        doc("e", "Saving a widget name with unicode fails", "instance:acme__z-5", days=40),
    ]


def keys(hits: list[Hit]) -> list[str]:
    return [hit.doc.key for hit in hits]


# --- tokenizer ---------------------------------------------------------------------------------------------

def test_camel_case_is_split_and_kept_whole() -> None:
    assert tokenize("parseDate") == ["parsedate", "parse", "date"]
    assert tokenize("HTTPServerError") == ["httpservererror", "http", "server", "error"]


def test_snake_case_is_split_and_kept_whole() -> None:
    assert tokenize("parse_date") == ["parse_date", "parse", "date"]


def test_a_path_gives_itself_its_file_name_parts_and_stem() -> None:
    assert tokenize("tests/test_x.py") == ["tests/test_x.py", "test_x.py", "tests", "test_x", "test", "py"]
    assert tokenize("pkg.mod.Class") == ["pkg.mod.class", "pkg", "mod", "class"]


def test_a_traceback_keeps_files_functions_and_exception_names_only() -> None:
    tokens = tokenize(TRACEBACK)
    for wanted in ("src/acme/utils/dates.py", "dates.py", "utils", "parse_date", "parse", "keyerror", "key", "year"):
        assert wanted in tokens
    for boilerplate in ("traceback", "recent", "call", "last", "line", "stdin", "module", "12", "1"):
        assert boilerplate not in tokens


def test_numbers_go_unless_inside_identifiers_and_stopwords_go() -> None:
    assert tokenize("line 42 in version 1.2.3") == ["line", "version"]
    assert tokenize("abc123 acme__x-12") == ["abc123", "abc", "acme__x-12", "acme__x", "acme"]
    assert tokenize("The value of the Widget is not set") == ["value", "widget", "set"]


# --- lexical -----------------------------------------------------------------------------------------------

def test_bm25_finds_the_doc_sharing_a_rare_identifier() -> None:
    retriever = LexicalRetriever()
    retriever.fit(corpus())
    hits = retriever.search("the widget breaks: frobnicateWidget fails on widget names")
    assert keys(hits)[0] == "b"
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert hits[0].parts["lexical"] == 1.0 and all(0 < hit.parts["lexical"] <= 1 for hit in hits)
    assert "a" not in keys(hits)  # shares no token with the query
    assert isinstance(retriever, Retriever)


def test_bm25_on_a_traceback_query_finds_the_function() -> None:
    retriever = LexicalRetriever()
    retriever.fit(corpus())
    assert keys(retriever.search(TRACEBACK))[0] == "d"


def test_no_match_and_empty_corpus_give_nothing() -> None:
    retriever = LexicalRetriever()
    retriever.fit(corpus())
    assert retriever.search("zzz qqq") == []
    assert retriever.search("") == []
    retriever.fit([])
    assert retriever.search("widget") == []


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        LexicalRetriever().fit([doc("a", "x widget"), doc("a", "y widget")])


# --- exclusion, time, k ------------------------------------------------------------------------------------

def make_retrievers() -> list:
    return [LexicalRetriever(), DenseRetriever(HashingEmbedder()),
            HybridRetriever(LexicalRetriever(), DenseRetriever(HashingEmbedder())), RandomRetriever(seed=3)]


@pytest.mark.parametrize("index", range(4))
def test_a_doc_sharing_any_identity_with_exclude_is_never_returned(index: int) -> None:
    retriever = make_retrievers()[index]
    retriever.fit(corpus())
    query = "frobnicate_widget KeyError widget names parse_date"
    assert "b" in keys(retriever.search(query, k=16, exclude=frozenset()))
    for excluded in ("pr:acme/x#2", "instance:acme__x-2"):
        assert "b" not in keys(retriever.search(query, k=16, exclude=frozenset({excluded, "pr:other/q#9"})))
    found = keys(retriever.search(query, k=16, exclude=frozenset({"commit:abc123", "pr:acme/x#2"})))
    assert "b" not in found and "d" not in found


@pytest.mark.parametrize("index", range(4))
def test_docs_at_or_after_the_time_cut_and_undated_docs_are_never_returned(index: int) -> None:
    retriever = make_retrievers()[index]
    retriever.fit([*corpus(), doc("u", "widget names frobnicate_widget", days=None)])
    query = "widget names frobnicate_widget config"
    assert "u" in keys(retriever.search(query, k=16))
    found = keys(retriever.search(query, k=16, before=T0 + timedelta(days=20)))
    assert set(found) <= {"a", "b"} and "b" in found  # c is dated exactly at the cut
    naive_cut = datetime(2024, 1, 11)  # naive times are UTC: b (day 10) is at the cut
    assert set(keys(retriever.search(query, k=16, before=naive_cut))) <= {"a"}


def test_k_is_capped_at_four_by_default_configurable_up_to_the_hard_cap() -> None:
    docs = [doc(f"d{i}", f"widget failure number{i}") for i in range(20)]
    retriever = LexicalRetriever()
    retriever.fit(docs)
    assert len(retriever.search("widget failure")) == 4
    assert len(retriever.search("widget failure", k=10)) == 4
    assert len(retriever.search("widget failure", k=2)) == 2
    wide = LexicalRetriever(max_k=HARD_MAX_K)
    wide.fit(docs)
    assert len(wide.search("widget failure", k=HARD_MAX_K)) == HARD_MAX_K
    for bad in (0, HARD_MAX_K + 1):
        with pytest.raises(ValueError):
            retriever.search("widget failure", k=bad)
    with pytest.raises(ValueError):
        LexicalRetriever(max_k=HARD_MAX_K + 1)
    with pytest.raises(ValueError):
        HybridRetriever(LexicalRetriever(), DenseRetriever(HashingEmbedder()), max_k=HARD_MAX_K + 1)


# --- dense and hybrid --------------------------------------------------------------------------------------

def test_hashing_embedder_is_deterministic_and_normalized() -> None:
    first, again = HashingEmbedder(64).embed(["parse_date fails"]), HashingEmbedder(64).embed(["parse_date fails"])
    assert first == again and len(first[0]) == 64
    assert sum(x * x for x in first[0]) == pytest.approx(1.0)
    assert HashingEmbedder(64).embed([""]) == [[0.0] * 64]


def test_dense_ranks_by_cosine() -> None:
    retriever = DenseRetriever(HashingEmbedder())
    retriever.fit(corpus())
    hits = retriever.search("parse_date ignores the timezone offset")
    assert keys(hits)[0] == "d"
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert hits[0].parts["dense"] == hits[0].score


def test_rrf_fuses_a_hand_made_example() -> None:
    fused = fuse([["a", "b", "c"], ["c", "a", "d"]])
    assert [key for key, _ in fused] == ["a", "c", "b", "d"]
    assert dict(fused)["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert dict(fused)["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert [key for key, _ in fuse([["a", "b"], ["b", "a"]], k=0)] == ["a", "b"]  # a tie goes to the smaller key
    with pytest.raises(ValueError):
        fuse([["a"]], k=-1)


def test_hybrid_is_the_rrf_of_its_two_rankings() -> None:
    lexical, dense = LexicalRetriever(), DenseRetriever(HashingEmbedder())
    hybrid = HybridRetriever(lexical, dense)
    hybrid.fit(corpus())
    query = "saving widget names"
    expected = fuse([keys(lexical.rank(query)), keys(dense.rank(query))])
    hits = hybrid.search(query, k=16)  # capped at max_k = 4
    assert len(expected) > 4 and keys(hits) == [key for key, _ in expected][:4]
    assert hits[0].parts["rrf"] == hits[0].score and {"lexical", "dense"} <= set(hits[0].parts)


# --- random control ----------------------------------------------------------------------------------------

def test_random_control_is_seeded_and_deterministic() -> None:
    docs = [doc(f"d{i}", f"case {i}") for i in range(12)]
    one, other = RandomRetriever(seed=7), RandomRetriever(seed=7)
    one.fit(docs)
    other.fit(list(reversed(docs)))
    assert keys(one.search("widget")) == keys(other.search("widget"))  # corpus order does not matter
    answers = set()
    for seed in range(5):
        retriever = RandomRetriever(seed=seed)
        retriever.fit(docs)
        answers.add(tuple(keys(retriever.search("widget"))))
    assert len(answers) > 1
    assert len(one.search("widget")) == 4
    assert "d3" not in keys(one.search("widget", k=16, exclude=frozenset({"instance:d3"})))


# --- re-ranker ---------------------------------------------------------------------------------------------

def path_labels(n: int) -> list[Label]:
    """Helped iff the case names the query's file; base rank and BM25 carry no signal."""
    labels = []
    for i in range(n):
        module = f"pkg/mod{i % 5}.py"
        helped = i % 2 == 0
        text = f"fix in {module}" if helped else f"fix in pkg/other{i % 3}.py"
        labels.append(Label(query=f"crash in {module} when parsing", doc=doc(f"l{i}", text), helped=helped,
                            parts={"lexical": ((i * 7) % 10) / 10}, rank=1 + (i // 2) % 4))
    return labels


def new_hits() -> list[Hit]:
    texts = ["fix in pkg/zeta.py", "fix in pkg/eta.py", "fix in pkg/theta.py", "fix in pkg/alpha.py"]
    return [Hit(doc=doc(f"h{rank}", text), score=10.0 - rank, rank=rank, parts={"lexical": 1 - rank / 10})
            for rank, text in enumerate(texts, start=1)]


def test_the_reranker_keeps_the_base_order_until_it_has_enough_labels_of_both_kinds() -> None:
    query = "crash in pkg/alpha.py when parsing"
    reranker = ReRanker(min_labels=20)
    assert keys(reranker.rerank(query, list(reversed(new_hits())))) == ["h1", "h2", "h3", "h4"]
    assert reranker.fit(path_labels(19)) is False and not reranker.trained
    assert reranker.rerank(query, new_hits()) == new_hits()
    one_kind = [label for label in path_labels(60) if label.helped]
    assert len(one_kind) >= 20 and reranker.fit(one_kind) is False
    assert reranker.rerank(query, new_hits()) == new_hits()


def test_the_reranker_learns_to_prefer_a_shared_file_path() -> None:
    query = "crash in pkg/alpha.py when parsing"
    reranker = ReRanker(min_labels=20)
    assert reranker.fit(path_labels(40)) is True and reranker.trained
    weights = dict(zip(FEATURES, reranker.state.weights or [], strict=True))
    assert weights["path_overlap"] > max(abs(weights["base"]), abs(weights["lexical"]))
    hits = reranker.rerank(query, new_hits())
    assert keys(hits)[0] == "h4" and [hit.rank for hit in hits] == [1, 2, 3, 4]
    assert hits[0].parts["base_rank"] == 4.0 and hits[0].score > 0.5 > hits[1].score


def test_training_is_deterministic_and_the_state_round_trips_through_json() -> None:
    first, second = ReRanker(), ReRanker()
    first.fit(path_labels(40))
    second.fit(path_labels(40))
    assert first.to_json() == second.to_json()
    stored = json.loads(first.to_json())
    assert stored["features"] == list(FEATURES) and stored["labels"] == 40
    back = ReRanker.from_json(first.to_json())
    assert back.state == first.state and back.trained
    query = "crash in pkg/alpha.py when parsing"
    assert back.rerank(query, new_hits()) == first.rerank(query, new_hits())
    untrained = ReRanker.from_json(ReRanker(min_labels=30).to_json())
    assert not untrained.trained and untrained.state.min_labels == 30
    with pytest.raises(ValueError, match="features"):
        ReRanker.from_json(json.dumps({**stored, "features": ["base"], "weights": [1.0]}))


def test_feature_helpers_read_paths_and_repositories() -> None:
    assert file_paths("see /usr/lib/site-packages/pkg/a.py and tests/test_x.py, v1.2") == {"pkg/a.py",
                                                                                          "tests/test_x.py"}
    assert repo_of(frozenset({"instance:scikit-learn__scikit-learn-13142"})) == "scikit-learn/scikit-learn"
    assert repo_of(frozenset({"pr:acme/x#12", "commit:abc"})) == "acme/x"
    assert repo_of(frozenset({"commit:abc"})) is None


# --- the real dense model, where the `dense` extra is installed -----------------------------------------------

@pytest.mark.skipif(not MiniLMEmbedder.available(), reason="the 'dense' extra (all-MiniLM-L6-v2) is not installed")
def test_minilm_embeds_offline_and_ranks_a_paraphrase_first() -> None:
    retriever = DenseRetriever(MiniLMEmbedder())
    retriever.fit([doc("food", "A man is eating a piece of bread."), doc("money", "The stock market crashed."),
                   doc("music", "Someone is playing the guitar.")])
    hits = retriever.search("A man is eating food.", k=3)
    assert keys(hits)[0] == "food" and len(retriever.embedder.embed(["x"])[0]) == MiniLMEmbedder.dim


@pytest.mark.skipif(MiniLMEmbedder.available(), reason="the 'dense' extra is installed")
def test_minilm_without_the_extra_says_how_to_install_it() -> None:
    with pytest.raises(DenseExtraMissing, match=r"\.\[dense\]"):
        MiniLMEmbedder().embed(["parse_date fails"])
