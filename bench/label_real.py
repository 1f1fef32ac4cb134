"""An independent label for real candidates: does this commit's test patch fail before its fix and pass after?

Precision and recall of the factory's *valid* need a ground truth that the factory did not produce. This is
that ground truth, made the simplest way a person would check a commit by hand, sharing none of the
builder's logic (no explorer, no recipes, no grading code, no memory): the repository at ``base_commit`` in
a plain container of our base image, a generous install with the packages of the commit's day (``uv pip
install --exclude-newer`` the day after the base commit: the package itself with every usual test extra,
every requirements file whose name says test or dev, every ``[dependency-groups]`` group whose name says
test or dev, poetry / pdm dev dependencies, tox's ``deps``, and pytest; a package that cannot be installed
editable is installed again after each patch; on 3.11 an old commit gets a mid-2023 pytest), then pytest on
the test modules the test patch touches (``test_*.py``, ``*_test.py``; the whole suite when it touches none)
— once with the test patch alone, once with the fix on top. The label:

- ``valid``: at least one test fails or errors before and passes after;
- ``invalid``: the after run collected and ran tests, none errored, none went from failing to passing;
- ``unknown``: this simple environment could not run the tests (install failed, nothing collected, a
  collection error) on any interpreter tried (3.9 then 3.11 for commits before 3.11's release,
  else 3.11 then 3.9) — such commits are left out of precision
  and recall, and their logs say why.

A git-versioned package is built as its nearest tag (``git describe``), as a person would. One JSON line per
candidate goes to ``--out`` (appended; candidates already labelled there are skipped, so a run can be
resumed; with ``--relabel-unknown`` the unknown ones are tried again and the last line per candidate
counts). Nothing of the repositories is kept besides the labels and logs in ``--work``.

Run: ``.venv/bin/python bench/label_real.py --db real.duckdb --mirrors /work/.mirror --sample 70 --out labels.jsonl``
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

PYTHON_311 = datetime(2022, 10, 24, tzinfo=UTC)
"""CPython 3.11's release: a commit older than it gets 3.9 first (its day's pytest may not run on 3.11)."""
IMAGE = "issue-factory/python:{}"
TIMEOUT = 1500
SCRIPT = r"""
set -u
cp -a /in/src /t && cd /t
git init -q . && git add -A && git -c user.email=l@l -c user.name=l commit -qm base >/dev/null
python -m pip install -q uv >/dev/null 2>&1 || { echo "LABEL: cannot install uv"; exit 90; }
export UV_COMPILE_BYTECODE=1  # as pip does: a suite with filterwarnings=error must not compile sources
UV="uv pip install --python /opt/venv/bin/python --exclude-newer $CUTOFF"
EDITABLE=1
$UV -q -e ".[test,tests,testing,dev]" || $UV -q -e . || { EDITABLE=0; $UV -q ".[test,tests,testing,dev]"; } \
  || $UV -q . || echo "LABEL: package install failed"
for f in $(ls requirements*.txt requirements/*.txt requirements/*.in *requirements*.txt 2>/dev/null \
           | grep -i -E 'test|dev' | sort -u); do $UV -q -r "$f" || echo "LABEL: $f failed"; done
python -m pip install -q --target /tmp/lbl tomli >/dev/null 2>&1  # the labeller's own reader, not the env's
PYTHONPATH=/tmp/lbl python /in/needs.py > /tmp/needs.txt || true
[ -s /tmp/needs.txt ] && { $UV -q -r /tmp/needs.txt \
  || while read -r r; do $UV -q "$r" || echo "LABEL: $r failed"; done < /tmp/needs.txt; }
$UV -q pytest || echo "LABEL: pytest install failed"
# The day's pytest of a commit older than CPython 3.11 may not run on 3.11 (py's apipkg): one from mid-2023 does.
if [ "$(python -c 'import sys; print(sys.version_info >= (3, 11))')" = True ] && [ "$CUTOFF" \< 2023-01-01 ]; then
  uv pip install --python /opt/venv/bin/python -q --exclude-newer 2023-06-01T00:00:00Z --upgrade pytest
fi
# A later install may have put a released copy of the package over the editable one (markupsafe: a test
# requirement depends on it): the tests must import the work tree, so the editable install comes last.
[ "$EDITABLE" = 1 ] && { $UV -q --no-deps --reinstall -e . || echo "LABEL: editable reinstall failed"; }
run() {
  [ "$EDITABLE" = 1 ] || $UV -q --no-deps --reinstall --refresh . >/dev/null 2>&1  # no cached build of the base
  files=$(for f in $TESTS; do case "${f##*/}" in test_*.py|*_test.py) [ -e "$f" ] && echo "$f";; esac; done)
  [ -n "$files" ] || echo "LABEL: no Python test file among the test patch's files: the whole suite ($1)"
  timeout 600 python -m pytest -o cache_dir=/tmp/pytest-cache -q -rA --junitxml="/out/$1.xml" $files \
    > "/out/$1.log" 2>&1
  echo "LABEL: pytest $1 exit $?"
}
git apply --whitespace=nowarn /in/test.patch || { echo "LABEL: test patch does not apply"; exit 91; }
run before
git apply --whitespace=nowarn /in/gold.patch || { echo "LABEL: gold patch does not apply"; exit 92; }
run after
"""
NEEDS = r"""
# Test requirements a person would see at a glance: dependency groups, poetry / pdm dev dependencies, tox deps.
import configparser, re
try:
    import tomllib
except ImportError:  # Python < 3.11: the labeller's own copy in /tmp/lbl
    import tomli as tomllib
try:
    data = tomllib.load(open("pyproject.toml", "rb"))
except Exception:
    data = {}
out = []
for name, items in data.get("dependency-groups", {}).items():
    if "test" in name or name == "dev":
        out += [i for i in items if isinstance(i, str)]
poetry = data.get("tool", {}).get("poetry", {})
groups = [poetry.get("dev-dependencies", {})] + [g.get("dependencies", {}) for g in poetry.get("group", {}).values()]
for deps in groups:
    out += [n for n, spec in deps.items()
            if n != "python" and not (isinstance(spec, dict) and ("git" in spec or "path" in spec))]
for items in data.get("tool", {}).get("pdm", {}).get("dev-dependencies", {}).values():
    out += [i for i in items if isinstance(i, str) and not i.startswith("-")]
tox = configparser.ConfigParser(interpolation=None)
try:
    tox.read("tox.ini")
    out += [l.strip() for l in tox.get("testenv", "deps", fallback="").splitlines()
            if l.strip() and not l.strip().startswith(("-", "#")) and "{" not in l and ":" not in l.split(";")[0]]
except Exception:
    pass
print("\n".join(dict.fromkeys(o for o in out if re.match(r"^[A-Za-z0-9]", o))))
"""


def junit(path: Path) -> dict[str, str]:
    """``classname::name`` -> passed | failed | error | skipped, from a pytest JUnit file."""
    if not path.is_file():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    out = {}
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = ("error" if "error" in kinds else "failed" if "failure" in kinds
                   else "skipped" if "skipped" in kinds else "passed")
        out[f"{case.get('classname', '')}::{case.get('name', '')}"] = outcome
    return out


def collection_broken(log: Path) -> bool:
    text = log.read_text(errors="replace") if log.is_file() else ""
    return ("ERROR collecting" in text or "ImportError while loading conftest" in text
            or "no tests ran" in text or "INTERNALERROR" in text)


def label_once(cand: dict, mirror: Path, python: str, work: Path) -> tuple[str, str]:
    """(label, why) on one interpreter."""
    ctx = work / cand["instance_id"] / python
    shutil.rmtree(ctx, ignore_errors=True)
    (ctx / "src").mkdir(parents=True)
    (ctx / "out").mkdir()
    archive = subprocess.run(["git", "-C", str(mirror), "archive", cand["base_commit"]], capture_output=True,
                             check=True).stdout
    with tempfile.TemporaryFile() as fh:
        fh.write(archive)
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            tar.extractall(ctx / "src", filter="data")
    (ctx / "test.patch").write_text(cand["test_patch"])
    (ctx / "gold.patch").write_text(cand["patch"])
    (ctx / "needs.py").write_text(NEEDS)
    tests = " ".join(json.loads(cand["test_files"]))
    cutoff = (cand["base_date"] + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tag = subprocess.run(["git", "-C", str(mirror), "describe", "--tags", "--abbrev=0", cand["base_commit"]],
                         capture_output=True, text=True).stdout.strip().lstrip("v") or "0.0.0"
    cmd = ["docker", "run", "--rm", "-v", f"{ctx}:/in:ro", "-v", f"{ctx / 'out'}:/out", "-e", f"CUTOFF={cutoff}",
           "-e", f"SETUPTOOLS_SCM_PRETEND_VERSION={tag}",
           "-e", f"TESTS={tests}", IMAGE.format(python), "bash", "-c", SCRIPT]
    for wait in (10, 30, 60, 120, 0):  # the engine may restart under us (a shared machine): not a label
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
            log = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            log = f"{exc.stdout or ''}{exc.stderr or ''}\nLABEL: timed out after {TIMEOUT}s"
            break
        if proc.returncode != 125 and "Cannot connect to the Docker daemon" not in log:
            break
        if not wait:
            raise SystemExit(f"the Docker engine is not answering: {log[-300:]}")
        time.sleep(wait)
    (ctx / "label.log").write_text(log)
    before, after = junit(ctx / "out" / "before.xml"), junit(ctx / "out" / "after.xml")
    notes = [line for line in log.splitlines() if line.startswith("LABEL:")]
    # a test missing from the before-run counts as failing only when that run could not collect everything; else
    # its id is unstable (marshmallow parametrizes with the current time) and proves nothing
    missing = "error" if collection_broken(ctx / "out" / "before.log") else "absent"
    flipped = sorted(t for t, o in after.items() if o == "passed" and before.get(t, missing) in ("failed", "error"))
    if flipped:
        return "valid", f"{len(flipped)} test(s) fail before, pass after, e.g. {flipped[0]}"
    ran = [t for t, o in after.items() if o in ("passed", "failed")]
    errored = [t for t, o in after.items() if o == "error"]
    if ran and not errored and not collection_broken(ctx / "out" / "after.log"):
        return "invalid", f"after: {len(ran)} test(s) ran, none fail before and pass after"
    if errored:  # a fixture or set-up this simple environment lacks (requests' httpbin): it cannot judge
        return "unknown", f"after: {len(errored)} test(s) errored in set-up, e.g. {errored[0]}"
    return "unknown", "; ".join(notes) or "no tests ran"


def candidates(db: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:  # a copy: the factory may hold the file's lock
        copy = Path(tmp) / "copy.duckdb"
        shutil.copy(db, copy)
        con = duckdb.connect(str(copy), read_only=True)
        rows = con.sql("select instance_id, repo, base_commit, patch, test_patch, test_files from candidates "
                       "order by instance_id").fetchall()
        con.close()
    keys = ("instance_id", "repo", "base_commit", "patch", "test_patch", "test_files")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def sample(rows: list[dict], size: int, seed: int) -> list[dict]:
    """``size`` candidates spread evenly over repositories (seeded)."""
    by_repo = defaultdict(list)
    for row in rows:
        by_repo[row["repo"]].append(row)
    rng = random.Random(seed)
    for group in by_repo.values():
        rng.shuffle(group)
    picked, i = [], 0
    while len(picked) < min(size, len(rows)):
        for group in by_repo.values():
            if i < len(group) and len(picked) < size:
                picked.append(group[i])
        i += 1
    return picked


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, required=True, help="a factory store holding the mined candidates")
    p.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"), help="folder of <owner>+<name>/repo")
    p.add_argument("--sample", type=int, default=70, help="candidates to label, spread over repositories")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--out", type=Path, default=Path("labels.jsonl"))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "label-real")
    p.add_argument("--relabel-unknown", action="store_true", help="try the unknown ones in --out again")
    p.add_argument("--relabel", action="append", default=[], metavar="ID",
                   help="label this sampled candidate again (repeatable); its new line counts")
    args = p.parse_args()
    done = set()
    if args.out.is_file():
        last = {(row := json.loads(line))["instance_id"]: row["label"]
                for line in args.out.read_text().splitlines() if line.strip()}
        done = {i for i, label in last.items()
                if not (args.relabel_unknown and label == "unknown") and i not in args.relabel}
    todo = [c for c in sample(candidates(args.db), args.sample, args.seed) if c["instance_id"] not in done]
    print(f"labelling {len(todo)} candidate(s) ({len(done)} already in {args.out}); logs in {args.work}")
    for n, cand in enumerate(todo, 1):
        mirror = args.mirrors / cand["repo"].replace("/", "+") / "repo"
        cand["base_date"] = commit_date(mirror, cand["base_commit"])
        started = time.monotonic()
        label, why, python = "unknown", "", ""
        pythons = ("3.9", "3.11") if cand["base_date"] < PYTHON_311 else ("3.11", "3.9")
        for python in pythons:
            label, why = label_once(cand, mirror, python, args.work)
            if label != "unknown":
                break
        row = {"instance_id": cand["instance_id"], "repo": cand["repo"], "label": label, "python": python,
               "why": why, "seconds": round(time.monotonic() - started, 1)}
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"[{n}/{len(todo)}] {cand['instance_id']:<40} {label:<8} py{python} {row['seconds']:>6}s  {why[:90]}",
              flush=True)


def commit_date(mirror: Path, sha: str) -> datetime:
    text = subprocess.run(["git", "-C", str(mirror), "show", "-s", "--format=%cI", sha], capture_output=True,
                          text=True, check=True).stdout.strip()
    return datetime.fromisoformat(text)


if __name__ == "__main__":
    main()
