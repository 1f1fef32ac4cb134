"""The factory on real repositories: yield, every rejection's reason, cost — and precision / recall of *valid*.

Given local mirrors of real public repositories (``fetch`` them; nothing of theirs is committed), this mines a
window of each with ``factory mine --git``, builds every candidate with ``factory build --no-llm`` (the user's
own commands, in a work directory of their own), and prints per repository: candidates, valid, each
rejection / error reason with counts, the LLM-free fraction of the valid ones, build seconds per instance
(the roles' recorded time) and disk per instance (its own image layers, plus its share of the environment
image it reuses).

The ground truth comes from ``bench/label_real.py`` (``--labels``): a label made by a procedure that shares
nothing with the builder. Printed: precision (valid instances the label confirms) and recall (labelled-valid
commits the factory made valid), every disagreement with the factory's reason, and the check the issue asks
for — no ``rejected(no_tests_ran)`` whose logs show a third-party import or collection error.

Run (mirrors under /work/.mirror/<owner>+<name>/repo):
``.venv/bin/python bench/real_repos.py --workdir /tmp/real --repo jd/tenacity:2021-01-01:25 --repo
pallets/flask:2021-01-01:25 --labels labels.jsonl`` — or ``--report-only`` on a store already built.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import docker
import duckdb

FACTORY = str(Path(sys.executable).with_name("factory"))
THIRD_PARTY_START = re.compile(r"ImportError while loading conftest|ModuleNotFoundError: No module named|"
                               r"ERROR collecting|ImportError: cannot import name")


def run(cmd: list[str], log: Path) -> float:
    """Run one factory command, its output appended to ``log``; its wall seconds."""
    started = time.monotonic()
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: see {log}")
    return time.monotonic() - started


def mine_and_build(args: argparse.Namespace) -> dict[str, float]:
    store = ["--db", str(args.workdir / "real.duckdb"), "--home", str(args.workdir / "home")]
    log = args.workdir / "factory.log"
    seconds = {"mine": 0.0}
    for spec in [] if args.build_only else args.repo:
        name, since, limit = (spec.split(":") + ["", ""])[:3]
        mirror = args.mirrors / name.replace("/", "+") / "repo"
        cmd = [FACTORY, "mine", "--git", str(mirror), "--name", name, *store]
        cmd += ["--since", since] if since else []
        cmd += ["--limit", limit] if limit else []
        seconds["mine"] += run(cmd, log)
        print(f"mined {name} (since {since or 'the start'}, limit {limit or 'none'})", flush=True)
    rebuild = ["--rebuild"] if args.rebuild else []
    seconds["build"] = run([FACTORY, "build", "--no-llm", "--workers", str(args.workers), *rebuild, *store], log)
    return seconds


def read_store(db: Path) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.sql("""
        select i.instance_id, c.repo, i.status, i.reason, i.builder, i.image, i.fingerprint, i.detail,
               coalesce((select sum(a.seconds) from attempts a where a.instance_id = i.instance_id), 0),
               coalesce((select list(v.log_path) from validations v where v.instance_id = i.instance_id), []),
               coalesce((select e.image_tag from environments e where e.fingerprint = i.fingerprint), '')
        from instances i join candidates c using (instance_id) order by c.repo, i.instance_id""").fetchall()
    con.close()
    keys = ("instance_id", "repo", "status", "reason", "builder", "image", "fingerprint", "detail", "seconds",
            "logs", "env_image")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def outcome(row: dict) -> str:
    return f"{row['status']}({row['reason']})" if row["reason"] else row["status"]


def image_sizes(rows: list[dict]) -> dict[str, int]:
    client, sizes = docker.from_env(), {}
    for tag in {r["image"] for r in rows if r["image"]} | {r["env_image"] for r in rows if r["env_image"]}:
        try:
            sizes[tag] = client.images.get(tag).attrs["Size"]
        except docker.errors.ImageNotFound:
            sizes[tag] = 0
    return sizes


def disk_per_instance(rows: list[dict], sizes: dict[str, int]) -> dict[str, float]:
    """MB per instance image: its own layers over its env image, plus the env image split among its users."""
    users = Counter(r["env_image"] for r in rows if r["image"] and r["env_image"])
    out = {}
    for r in rows:
        if not r["image"]:
            continue
        env = sizes.get(r["env_image"], 0)
        own = max(sizes.get(r["image"], 0) - env, 0)
        out[r["instance_id"]] = (own + env / max(users[r["env_image"]], 1)) / 1e6
    return out


def per_repo(rows: list[dict], disk: dict[str, float]) -> None:
    by_repo = defaultdict(list)
    for r in rows:
        by_repo[r["repo"]].append(r)
    print(f"\n{'repository':<30}{'cand':>5}{'valid':>6}{'yield':>7}{'LLM-free':>9}{'s/inst':>8}{'MB/inst':>8}  "
          "rejections and errors")
    for repo, group in [*sorted(by_repo.items()), ("all", rows)]:
        valid = [r for r in group if r["status"] == "valid"]
        free = sum(not r["builder"].startswith("llm") for r in valid)
        reasons = Counter(outcome(r) for r in group if r["status"] != "valid")
        mb = [disk[r["instance_id"]] for r in group if r["instance_id"] in disk]
        print(f"{repo:<30}{len(group):>5}{len(valid):>6}{len(valid) / len(group):>7.2f}"
              f"{(free / len(valid) if valid else 0):>9.2f}{sum(r['seconds'] for r in group) / len(group):>8.0f}"
              f"{(sum(mb) / len(mb) if mb else 0):>8.0f}  "
              + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))


def third_party_no_tests_ran(rows: list[dict]) -> list[str]:
    """``rejected(no_tests_ran)`` instances whose run logs show a third-party import / collection error."""
    bad = []
    for r in rows:
        if (r["status"], r["reason"]) != ("rejected", "no_tests_ran"):
            continue
        for path in r["logs"]:
            p = Path(path)
            if p.is_file() and THIRD_PARTY_START.search(p.read_text(errors="replace")):
                bad.append(r["instance_id"])
                break
    return bad


def against_labels(rows: list[dict], labels_path: Path) -> None:
    labels = {}
    for line in labels_path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            labels[row["instance_id"]] = row
    by_id = {r["instance_id"]: r for r in rows}
    known = {i: lab for i, lab in labels.items() if lab["label"] in ("valid", "invalid") and i in by_id}
    unknown = [i for i, lab in labels.items() if lab["label"] == "unknown"]
    tp = [i for i, lab in known.items() if lab["label"] == "valid" and by_id[i]["status"] == "valid"]
    fp = [i for i, lab in known.items() if lab["label"] == "invalid" and by_id[i]["status"] == "valid"]
    fn = [i for i, lab in known.items() if lab["label"] == "valid" and by_id[i]["status"] != "valid"]
    precision = len(tp) / (len(tp) + len(fp)) if tp or fp else float("nan")
    recall = len(tp) / (len(tp) + len(fn)) if tp or fn else float("nan")
    print(f"\nlabelled sample: {len(labels)} commit(s) of {len({lab['repo'] for lab in labels.values()})} "
          f"repositories; {len(known)} labelled valid/invalid "
          f"({sum(lab['label'] == 'valid' for lab in known.values())} valid), {len(unknown)} unknown "
          "(the simple labeller's environment could not run them: left out)")
    print(f"precision of valid: {len(tp)}/{len(tp) + len(fp)} = {precision:.2f}   "
          f"recall of valid: {len(tp)}/{len(tp) + len(fn)} = {recall:.2f}")
    for name, ids in (("valid here, label invalid", fp), ("label valid, not valid here", fn)):
        for i in ids:
            print(f"  {name}: {i}: {outcome(by_id[i])} — {by_id[i]['detail'][:140]!r}; label: {known[i]['why'][:100]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME[:SINCE[:LIMIT]]",
                   help="a repository to mine (its mirror: --mirrors/<owner>+<name>/repo); repeatable")
    p.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    p.add_argument("--workdir", type=Path, required=True, help="real.duckdb, home/ and factory.log go here")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--labels", type=Path, help="labels.jsonl from bench/label_real.py")
    p.add_argument("--build-only", action="store_true", help="build what the store holds, mine nothing (a second "
                   "`mine --limit N` would add N more candidates)")
    p.add_argument("--rebuild", action="store_true", help="build every candidate again (after a change to the factory)")
    p.add_argument("--report-only", action="store_true", help="report on the store in --workdir as it is")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    seconds = {} if args.report_only else mine_and_build(args)
    rows = read_store(args.workdir / "real.duckdb")
    if not rows:
        raise SystemExit(f"no instances in {args.workdir / 'real.duckdb'}")
    disk = disk_per_instance(rows, image_sizes(rows))
    per_repo(rows, disk)
    bad = third_party_no_tests_ran(rows)
    print(f"\nrejected(no_tests_ran) with a third-party import/collection error in their logs: {len(bad)}"
          + (f" ({', '.join(bad)})" if bad else ""))
    if seconds:
        print(f"wall: mine {seconds['mine']:.0f}s, build {seconds['build']:.0f}s "
              f"({seconds['build'] / len(rows):.0f}s per candidate, {args.workers} worker(s))")
    if args.labels:
        against_labels(rows, args.labels)


if __name__ == "__main__":
    main()
