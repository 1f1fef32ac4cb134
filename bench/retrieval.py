"""Retrieval quality of the repair agent's memory on real instances, no LLM needed.

For a time split of a dataset the factory built (train = issues created before the cutoff), every test
instance queries the train instances with its issue text — the retrievers the agent uses
(:mod:`memory_pool.retrieval`: BM25 over code-aware tokens, dense, their reciprocal-rank fusion, and the
seeded random control) under the agent's own rules (never the same instance, PR or commit; only issues
created before the query's). A retrieved case is a **hit** when its gold patch touches a file the test
instance's gold patch touches: the case is about the code that must change. Printed: hit@1 and hit@4 per
retriever (with how many test instances have any such train case at all — the ceiling), and the time per
query. The dense retriever is all-MiniLM-L6-v2 when the ``dense`` extra is installed, else the hashing
embedder (named in the table).

Run: ``.venv/bin/python bench/retrieval.py --dataset real-valid.jsonl [--before 2024-01-01]`` (default cutoff:
the date that leaves a quarter of the instances as the test split).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory_pool.retrieval import (  # noqa: E402
    DenseRetriever,
    Doc,
    HashingEmbedder,
    HybridRetriever,
    LexicalRetriever,
    MiniLMEmbedder,
    RandomRetriever,
)


def files(patch: str) -> set[str]:
    return {line.split(" b/", 1)[1] for line in patch.splitlines() if line.startswith("diff --git ")}


def when(row: dict) -> datetime:
    value = datetime.fromisoformat(str(row["created_at"]).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def identities(row: dict) -> frozenset[str]:
    found = {f"instance:{row['instance_id']}", f"commit:{row.get('base_commit', '')}"}
    if row.get("pull_number") not in (None, ""):
        found.add(f"pr:{row['repo']}#{row['pull_number']}")
    return frozenset(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="export JSONL of valid instances")
    parser.add_argument("--before", help="cutoff date (ISO); default: the newest quarter of instances is the test")
    args = parser.parse_args()
    rows = sorted((json.loads(line) for line in args.dataset.read_text().splitlines() if line.strip()), key=when)
    cutoff = (datetime.fromisoformat(args.before).replace(tzinfo=UTC) if args.before
              else when(rows[int(len(rows) * 0.75)]))
    train = [r for r in rows if when(r) < cutoff]
    test = [r for r in rows if when(r) >= cutoff]
    docs = [Doc(key=r["instance_id"], text=r["problem_statement"], identities=identities(r), created_at=when(r))
            for r in train]
    gold = {r["instance_id"]: files(r["patch"]) for r in rows}
    embedder = MiniLMEmbedder() if MiniLMEmbedder.available() else HashingEmbedder()
    dense_name = "dense (MiniLM)" if isinstance(embedder, MiniLMEmbedder) else "dense (hashing)"
    retrievers = {
        "bm25": LexicalRetriever(),
        dense_name: DenseRetriever(embedder),
        "hybrid (RRF)": HybridRetriever(LexicalRetriever(), DenseRetriever(embedder)),
        "random": RandomRetriever(seed=0),
    }
    reachable = sum(any(gold[t["instance_id"]] & gold[d.key] for d in docs
                        if d.created_at < when(t) and not (d.identities & identities(t))) for t in test)
    repos = Counter(r["repo"] for r in rows)
    print(f"{len(rows)} instances from {len(repos)} repositories ({', '.join(f'{k} {v}' for k, v in repos.items())})")
    print(f"time split at {cutoff.date()}: {len(train)} train, {len(test)} test; {reachable} test instance(s) "
          "have a train case touching one of their files (the ceiling of hit@k)")
    print(f"{'retriever':<18}{'hit@1':>8}{'hit@4':>8}{'ms/query':>10}")
    for name, retriever in retrievers.items():
        started = time.monotonic()
        retriever.fit(docs)
        hit1 = hit4 = 0
        for t in test:
            hits = retriever.search(t["problem_statement"], k=4, exclude=identities(t), before=when(t))
            good = [bool(gold[h.doc.key] & gold[t["instance_id"]]) for h in hits]
            hit1 += bool(good[:1] and good[0])
            hit4 += any(good)
        ms = (time.monotonic() - started) * 1000 / max(len(test), 1)
        n = max(len(test), 1)
        print(f"{name:<18}{hit1 / n:>8.2f}{hit4 / n:>8.2f}{ms:>10.1f}")


if __name__ == "__main__":
    main()
