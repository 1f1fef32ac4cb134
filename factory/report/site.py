"""Write the ``factory report`` site: an overview, evaluation runs, instance lists and one page per instance.

Why it is built this way: the site is static files with relative links only — it opens from a file URL and
from any static host, with no server, no network and no script (a Content-Security-Policy in every page
forbids scripts outright, so even text that slipped past escaping could not run). Pages come from the Jinja
templates beside this module with autoescaping on: every value from the store (patches, logs, problem
statements — attacker-controlled text) is escaped exactly once, by the template. Instance pages are written
while the store is streamed (:mod:`factory.report.pages`), so memory does not grow with the store. Logs
the pages link to are copied under ``logs/`` (bounded per file), so the site travels whole. The site is
written to a temporary folder beside ``out`` and swapped in at the end: an interrupted run leaves the
previous report intact, and a folder that is not a report is never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path

import jinja2

import factory.report.charts as charts
import factory.report.evals as evals
import factory.report.evidence as evidence
import factory.report.pages as pages
from factory.core.errors import UserError
from factory.report.disk import disk_usage
from factory.report.queries import overview
from factory.store import Store

TEMPLATES = Path(__file__).parent / "templates"
MARKER = ".factory-report"
PER_LIST_PAGE = 500
MAX_LOG_BYTES = 2 * 1024 * 1024
STATUS_SERIES = ["valid", "rejected", "build_failed", "error", "pending"]


@dataclass
class Written:
    """What :func:`build_report` wrote (``factory report --json`` prints it)."""

    out: Path
    index: Path
    instances: int = 0
    pages: int = 0
    logs: int = 0
    bytes: int = 0
    runs: int = 0
    files: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"out": str(self.out), "index": str(self.index), "instances": self.instances, "pages": self.pages,
                "logs": self.logs, "bytes": self.bytes, "eval_runs": self.runs, "files": self.files}


def slug(instance_id: str) -> str:
    """A file name for an instance id that cannot leave its folder; ids that needed changing get a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", instance_id).lstrip(".")[:100]
    if safe != instance_id or not safe:
        safe = f"{safe}-{hashlib.sha256(instance_id.encode()).hexdigest()[:10]}"
    return safe


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(slug=slug, bytes=_bytes, pct=lambda v: f"{100 * v:.1f}%",
                       num=lambda v: f"{v:,.0f}" if v is not None else "", usd=lambda v: f"${v or 0:,.4f}")
    return env


class _Logs:
    """Copies each log a page links to into ``logs/`` once (env logs are shared by many instances); with
    ``copy`` off, links to the log where it lies instead (a smaller site whose log links work on this machine only).
    """

    def __init__(self, root: Path, copy: bool = True):
        self.root = root
        self.copy = copy
        self.copied: dict[str, str | None] = {}

    def link(self, src: str, folder: str, name: str) -> str | None:
        """The href of the log from an instance page, or None when the log is not on this machine."""
        if not src:
            return None
        if src not in self.copied:
            self.copied[src] = self._place(src, folder, name)
        return self.copied[src]

    def _place(self, src: str, folder: str, name: str) -> str | None:
        if not self.copy:
            return Path(src).resolve().as_uri() if os.path.isfile(src) else None
        rel = f"logs/{folder}/{name}"
        try:
            size = os.path.getsize(src)
            (self.root / "logs" / folder).mkdir(parents=True, exist_ok=True)
            if size <= MAX_LOG_BYTES:
                shutil.copyfile(src, self.root / rel)
            else:
                with open(src, "rb") as fh, open(self.root / rel, "wb") as dst:
                    dst.write(fh.read(MAX_LOG_BYTES // 2))
                    dst.write(f"\n… {size - MAX_LOG_BYTES:,} bytes left out of this copy …\n".encode())
                    fh.seek(size - MAX_LOG_BYTES // 2)
                    dst.write(fh.read())
        except OSError:
            return None
        return "../" + rel  # instance pages live one folder down, in i/


def _write(path: Path, name: str, stream: bool = False, **context: object) -> int:
    """Render one page; ``stream`` for pages fed by a query stream (lists, the evaluation matrix), whose text is
    written as it is produced (rendering whole is faster for an instance page, which is small)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    template = _env().get_template(name)
    with path.open("w", encoding="utf-8") as fh:
        if stream:
            chunks = template.stream(**context)
            chunks.enable_buffering(64)
            chunks.dump(fh)
        else:
            fh.write(template.render(**context))
    return 1


def _instance_context(row: dict, logs: _Logs) -> dict:
    """What ``instance.html.j2`` shows for one streamed instance row."""
    name = slug(row["instance_id"])
    runs = row["runs"]
    for r in runs:
        r["log"] = logs.link(r["log_path"], name, f"{r['phase']}-{r['run_index']}.log")
        r["counts"] = {k: sum(v == k for v in r["tests"].values()) for k in ("passed", "failed", "error", "skipped")}
    for n, a in enumerate(row["attempts"]):
        a["log"] = logs.link(a["log_path"], name, f"attempt-{n}-{slug(a['role'])}.log")
    env_log = logs.link(row["env_log"] or "", "env", f"{slug(row['fingerprint'] or 'none')}.log")
    run = evidence.decisive_run(row["status"], row["reason"], runs)
    text, source = "", ""
    if run is not None:
        tail = evidence.read_tail(run["log_path"]) if run["log_path"] else None
        text = evidence.excerpt(tail) if tail else ""
        source = f"{run['phase']} run #{run['run_index']}"
    elif row["env_error"]:
        text, source = evidence.excerpt(row["env_error"]), "environment build"
    elif row["attempts"] and row["attempts"][-1]["detail"]:
        text, source = evidence.excerpt(row["attempts"][-1]["detail"]), "last builder attempt"
    table = evidence.outcome_table(runs, row["fail_to_pass"], row["pass_to_pass"], row["flaky_tests"],
                                   row["unstable_tests"])
    return {"i": row, "decisive": run, "excerpt": text, "excerpt_source": source, "env_log": env_log,
            "tests": table, "patch": evidence.diff_lines(row["patch"]),
            "test_patch": evidence.diff_lines(row["test_patch"]), "root": "../"}


def _lists(site: Path, store: Store, total: int) -> int:
    rows = pages.listing(store)
    n_pages = max(1, -(-total // PER_LIST_PAGE))
    for number in range(1, n_pages + 1):
        chunk = list(islice(rows, PER_LIST_PAGE))
        _write(site / "instances" / f"page-{number}.html", "instances.html.j2", rows=chunk, number=number,
               pages=n_pages, total=total, first=(number - 1) * PER_LIST_PAGE + 1, root="../")
    return n_pages


def _evals(site: Path, store: Store) -> tuple[int, int]:
    all_runs = evals.runs(store)
    shown = evals.columns(all_runs)
    repair = [evals.ablation(store, name, configs) for name, configs in evals.repair_evaluations(all_runs).items()]
    charts_for = {
        e.name: {"rates": charts.bars([(r.config, r.run.rate) for r in e.rows], f"resolve rate per configuration, "
                                      f"{e.name}", fmt=lambda v: f"{100 * v:.0f}%"),
                 "curve": charts.lines({"both-N": e.curve}, f"learning curve, {e.name}", "train cases in memory")
                 if e.curve else None}
        for e in repair}
    training = evals.training_curves(all_runs)
    training_chart = charts.lines({name: [(x, y, y, y) for x, y in pts] for name, pts in training.items()},
                                  "training: cumulative resolve rate", "train attempts") if training else None
    rate_chart = charts.bars([(r.key, r.rate) for r in evals.plain_runs(all_runs)], "resolve rate per run",
                             fmt=lambda v: f"{100 * v:.0f}%")
    _write(site / "evals.html", "evals.html.j2", stream=True, runs=evals.plain_runs(all_runs), columns=shown,
           matrix=evals.matrix(store, shown), repair=repair, repair_charts=charts_for, rate_chart=rate_chart,
           training=training, training_chart=training_chart, root="")
    return 1, len(all_runs)


def _overview(site: Path, store: Store, engine: bool) -> int:
    view = overview(store)
    repos = view.repos[:25]
    figures = {
        "funnel": charts.funnel(view.funnel, "candidates to valid instances"),
        "reasons": charts.bars(view.reasons, "why candidates did not become instances", color="#c62828"),
        "repos": charts.stacked([(r["repo"], [r[s] for s in STATUS_SERIES]) for r in repos], STATUS_SERIES,
                                "instances per repository and status"),
        "builders": charts.bars([(b["builder"], b["instances"]) for b in view.builders], "builder per instance"),
        "build": charts.histogram(view.build_seconds, "env image build seconds"),
        "test": charts.histogram(view.test_seconds, "test run seconds"),
    }
    return _write(site / "index.html", "overview.html.j2", v=view, figures=figures, disk=disk_usage(store, engine),
                  root="")


def _prepare(out: Path) -> Path:
    """A fresh temporary folder beside ``out``; refuses an ``out`` that holds something other than a report."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise UserError(f"{out} exists and is not a report written by `factory report`",
                        "pass --out with a new or empty folder (or a previous report's)")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "assets").mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"cannot write next to {out}: {exc.strerror}", "pass --out with a writable folder") from exc
    return tmp


def _swap(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _files(site: Path) -> Iterator[Path]:
    return (p for p in site.rglob("*") if p.is_file())


def build_report(store: Store, out: Path, *, engine: bool = True, copy_logs: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> Written:
    """Write the site for ``store`` into ``out``; ``progress(done, total)`` is told after each instance page.
    ``engine``: ask the Docker engine for image sizes (the report is otherwise the store's alone).
    ``copy_logs``: copy the logs pages link to into the site (off: link to them where they lie)."""
    out = Path(out).resolve()
    site = _prepare(out)
    try:
        shutil.copyfile(TEMPLATES / "style.css", site / "assets" / "style.css")
        (site / MARKER).write_text("written by `factory report`; the next run replaces this folder\n")
        total = pages.count(store)
        written = Written(out, out / "index.html", instances=total)
        written.pages += _overview(site, store, engine)
        page_count, written.runs = _evals(site, store)
        written.pages += page_count + _lists(site, store, total)
        logs = _Logs(site, copy_logs)
        for done, row in enumerate(pages.instances(store), 1):
            written.pages += _write(site / "i" / f"{slug(row['instance_id'])}.html", "instance.html.j2",
                                    **_instance_context(row, logs))
            if progress:
                progress(done, total)
        written.logs = sum(v is not None for v in logs.copied.values())
        written.bytes = sum(p.stat().st_size for p in _files(site))
        written.files = {"overview": str(out / "index.html"), "evals": str(out / "evals.html"),
                         "instances": str(out / "instances" / "page-1.html"), "pages": str(out / "i"),
                         "logs": str(out / "logs")}
        _swap(site, out)
    except BaseException:
        shutil.rmtree(site, ignore_errors=True)
        raise
    return written
