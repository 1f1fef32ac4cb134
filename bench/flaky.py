"""How reliably do the default reruns flag the example's flaky commit? (issue 2: ≥ 19 of 20)

Mines the example, builds the "Add tag export" candidate once, then repeats its validation — 1 run
before, 2 after, the defaults — N times (default 20) and prints how many times it ended ``flaky``.
Run: ``.venv/bin/python bench/flaky.py [N]``.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import tinyledger  # noqa: E402
from factory.core.settings import Settings  # noqa: E402
from factory.docker.runtime import connect  # noqa: E402
from factory.grading.fail_to_pass import validate  # noqa: E402
from factory.mining.git_source import mine_git  # noqa: E402
from factory.pipeline.build import build_pending  # noqa: E402
from factory.store import Store  # noqa: E402

SUBJECT = "Add tag export"


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    client = connect()
    with tempfile.TemporaryDirectory(prefix="factory-flaky-") as tmp:
        root = Path(tmp)
        repo = tinyledger.create(root / "tinyledger")
        settings = Settings(db_path=root / "f.duckdb", home=root / "home")
        with Store(settings.db_path) as store:
            mine_git(str(repo), store, settings)
            cand = next(c for c in store.candidates() if c.problem_statement.startswith(SUBJECT))
            build_pending(store, settings, only=[cand.instance_id])
            inst = store.instance(cand.instance_id)
            outcomes: Counter[str] = Counter()
            for i in range(repeats):
                verdict = validate(client, cand, inst.image, inst.eval_script, store, settings, root / "logs" / str(i))
                outcomes[f"{verdict.status.value}({verdict.reason})"] += 1
                print(f"run {i + 1:>2}: {verdict.status.value}({verdict.reason})", flush=True)
    flagged = outcomes.get("rejected(flaky)", 0)
    print(f"flaky commit flagged flaky in {flagged} of {repeats} validations "
          f"(runs_before={settings.build.runs_before}, runs_after={settings.build.runs_after}); "
          f"outcomes: {dict(outcomes)}")


if __name__ == "__main__":
    main()
