"""``factory report`` on the demo's store (the shared ``pipeline`` run), opened in a real headless Chromium.

The session's store stays open in this process (DuckDB lets one process hold the file), so the test takes a
consistent copy of it first and runs the real CLI — ``factory status --json`` and ``factory report`` — on the
copy in subprocesses. Chromium (Debian's ``chromium``, started here) loads the pages from file URLs; the
numbers are read back from the DOM it rendered, and screenshots — the overview at desktop width and an
instance page at a phone's — are saved in this test's tmp folder (``overview.png``, ``instance-phone.png``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import duckdb
import pytest

BROWSER = "chromium"


def snapshot(db: Path, copy: Path) -> Path:
    """A copy of the open store (same process, so DuckDB shares the open database with this connection)."""
    con = duckdb.connect(str(db))
    try:
        name = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH '{copy}' AS snap")
        con.execute(f'COPY FROM DATABASE "{name}" TO snap')
        con.execute("DETACH snap")
    finally:
        con.close()
    return copy


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    path = shutil.which(BROWSER)
    if path is None:
        pytest.fail("this test needs Debian's chromium. Fix: `apt-get install -y chromium` "
                    "(`make test` runs scripts/ensure-chromium.sh)", pytrace=False)
    done = subprocess.run(
        [path, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, url],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def counts_in(dom: str) -> dict:
    """The overview's status table, rebuilt in ``factory status --json``'s shape."""
    found: dict = {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 0}
    for key, value in re.findall(r'data-count="([^"]+)"[^>]*>(\d+)<', dom):
        status, _, reason = unescape(key).partition("/")
        if reason:
            found[status][reason] = int(value)
        else:
            found[status] = int(value)
    return found


def listed(dom: str, name: str) -> list[str]:
    block = re.search(rf'<ul class="tests" data-list="{name}">(.*?)</ul>', dom, re.S)
    return [unescape(t) for t in re.findall(r"<code>(.*?)</code>", block.group(1))] if block else []


def test_demo_report_in_chromium(pipeline, run_factory, tmp_path: Path) -> None:
    db = snapshot(pipeline.settings.db_path, tmp_path / "demo.duckdb")
    status = run_factory("status", "--json", "--db", str(db))
    assert status.returncode == 0, status.output
    counts = json.loads(status.stdout)["counts"]

    report = run_factory("report", "--db", str(db), "--out", str(tmp_path / "report"), "--json")
    assert report.returncode == 0, report.output
    written = json.loads(report.stdout)
    index = Path(written["index"])
    assert written["instances"] == sum(1 for _ in pipeline.store.instances()) and index.is_file()
    assert written["logs"] > 0

    overview = chromium(tmp_path, index.as_uri(), "--dump-dom")
    assert counts_in(overview) == counts
    assert f'data-funnel="valid">{counts["valid"]}<' in overview

    instances = pipeline.store.instances()
    valid = next((i for i in instances if i.status.value == "valid" and i.fail_to_pass), None)
    rejected = next((i for i in instances if i.status.value == "rejected"), None)
    assert valid and rejected, f"the demo run has no valid and no rejected instance to look at: {counts}"
    page = index.parent / "i" / f"{valid.instance_id}.html"
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert 'data-status="valid"' in dom
    assert listed(dom, "FAIL_TO_PASS") == valid.fail_to_pass and valid.fail_to_pass
    assert listed(dom, "PASS_TO_PASS") == valid.pass_to_pass
    assert "full log" in dom and "env Dockerfile" in dom

    dom = chromium(tmp_path, (index.parent / "i" / f"{rejected.instance_id}.html").as_uri(), "--dump-dom")
    assert f'data-reason="{rejected.reason}"' in dom and "Decisive run" in dom
    assert listed(dom, "flaky") == rejected.flaky_tests

    shot = tmp_path / "overview.png"
    chromium(tmp_path, index.as_uri(), f"--screenshot={shot}", "--window-size=1280,2400")
    phone = tmp_path / "instance-phone.png"
    chromium(tmp_path, page.as_uri(), f"--screenshot={phone}", "--window-size=390,2000")
    for png in (shot, phone):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png
