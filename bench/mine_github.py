"""GitHub mining cost: API requests per candidate and per non-candidate PR, and candidates per second.

Against the local GitHub server of the tests (tests/github_server.py: GitHub's JSON shapes, Link
pagination, rate-limit headers) and a generated repository of ``--prs`` pull requests (default 500;
about 10 % are candidates, the rest unmerged, without issue, docs-only, by bots, ...), through the real
PyGithub client. Three runs in one process: the first full mine, an immediate rerun (nothing new: the
cursor makes it one listing page), and a run after 20 PRs were updated (only those are looked at).
Run: ``.venv/bin/python bench/mine_github.py [--prs 500]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.core.settings import Settings  # noqa: E402
from factory.mining.github_api import GitHubAPI  # noqa: E402
from factory.mining.github_source import mine_github  # noqa: E402
from factory.store import Store  # noqa: E402
from tests.github_fixtures import build_many  # noqa: E402
from tests.github_server import FakeGitHub, GitHubServer  # noqa: E402

REPO = "bench/many"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=500, help="pull requests in the generated repository")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="factory-bench-github-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        built = build_many(root / "many.git", args.prs)
        build_seconds = time.monotonic() - started
        fake = FakeGitHub()
        built.register(fake, REPO)
        expected = built.expected()
        settings = Settings(db_path=root / "f.duckdb", home=root / "home")
        rows = []
        with GitHubServer(fake) as server, Store(settings.db_path) as store:
            api = GitHubAPI(token="bench-token", base_url=server.api_url)

            def run(label: str) -> None:
                server.reset_log()
                t0 = time.monotonic()
                report = mine_github(REPO, store, settings, api=api)
                seconds = time.monotonic() - t0
                sent = len(server.requests)
                listing = sum(r.path.endswith("/pulls") for r in server.requests)
                per_candidate = (sent - listing - 1) / len(report.added) if report.added else 0.0
                non_candidates = report.scanned - len(report.added)
                rows.append((label, report.scanned, len(report.added), sent, listing, per_candidate,
                             listing / non_candidates if non_candidates else 0.0, seconds,
                             len(report.added) / seconds if seconds else 0.0))

            run("first mine")
            run("rerun, nothing new")
            with fake.lock:  # 20 closed PRs get a new comment: GitHub bumps their updated_at
                bumped = sorted(fake.repo(REPO).pulls.values(), key=lambda p: p.number)[:20]
                for pr in bumped:
                    pr.updated_at = pr.updated_at + timedelta(days=400)
            run("after 20 PRs updated")
            stored = len(store.candidates(REPO))

    print(f"bench/mine_github.py — {args.prs} PRs ({expected['candidate']} candidates by construction), local "
          f"GitHub server, PyGithub; repository built in {build_seconds:.1f}s\n")
    header = (f"{'run':<22}{'PRs seen':>9}{'new cand.':>10}{'requests':>9}{'listing':>8}{'req/cand':>9}"
              f"{'list req/non-cand PR':>21}{'seconds':>8}{'cand/s':>8}")
    print(header)
    for label, scanned, added, sent, listing, per_cand, per_non, seconds, rate in rows:
        print(f"{label:<22}{scanned:>9}{added:>10}{sent:>9}{listing:>8}{per_cand:>9.2f}{per_non:>21.3f}"
              f"{seconds:>8.2f}{rate:>8.1f}")
    first = rows[0]
    print(f"\nAPI requests per candidate (issue + its comments; target <= 4):        {first[5]:.2f}")
    print(f"API requests per non-candidate PR scanned (listing only; target <= 0.1): {first[6]:.3f}")
    print(f"candidates per second (first mine, git work included):                  {first[8]:.1f}")
    print(f"candidates stored: {stored} (expected {expected['candidate']}); no duplicates after reruns: "
          f"{stored == expected['candidate']}")


if __name__ == "__main__":
    main()
