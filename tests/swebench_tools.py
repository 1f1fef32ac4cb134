"""Running the real swebench harness from a test: what the SWE-bench drop-in tests share."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def swebench_eval(dataset: Path, predictions: str, run_id: str, cwd: Path,
                  model: str | None = None) -> tuple[dict, str, float]:
    """Run ``python -m swebench.harness.run_evaluation`` as a user types it; return its run summary, what it
    printed and the seconds it took. ``model``: the predictions' model name (``gold`` for gold)."""
    command = [sys.executable, "-m", "swebench.harness.run_evaluation", "--dataset_name", str(dataset),
               "--predictions_path", predictions, "--run_id", run_id, "--max_workers", "3", "--timeout", "300",
               "--report_dir", str(cwd)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-4000:]
    model = model or ("gold" if predictions == "gold" else "not-a-fix")
    return json.loads((cwd / f"{model.replace('/', '__')}.{run_id}.json").read_text()), printed, seconds
