"""The ``factory report`` site: hostile store text is escaped, every link resolves inside the folder, and an
earlier report is replaced while a folder that is not one is refused."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.core.models import Instance, Status
from factory.report import build_report
from factory.report.site import slug
from factory.store import Store
from tests.unit.report_store import cand, fill

HOSTILE = ("It breaks.</pre><script>alert('statement')</script>\n<img src=x onerror=alert(1)>"
           "</textarea><!-- & &amp; \"quoted\" 'single' {{ 7*7 }}")
HOSTILE_PATCH = ("diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1 +1 @@\n"
                 "-x = 1\n+x = '</pre></span><script>document.title=\"pwned\"</script>'\n")
EVIL_ID = "evil__x-1/../../../etc/passwd<script>"


VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source", "area", "base", "col", "embed"}


class _Page(HTMLParser):
    """Tags, links and the text inside every element with an id, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []
        self.metas: list[dict] = []
        self.text: dict[str, str] = {}
        self._stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "meta":
            self.metas.append(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag in VOID:
            return
        self._stack.append((tag, attrs.get("id")))
        if attrs.get("id"):
            self.text[attrs["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, name in self._stack:
            if name:
                self.text[name] += data


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture
def site(tmp_path: Path) -> Path:
    with Store(tmp_path / "f.duckdb") as store:
        fill(store, tmp_path / "logs", problem=HOSTILE, patch=HOSTILE_PATCH)
        store.add_candidates([cand(9, "evil/<b>repo</b>", instance_id=EVIL_ID, problem_statement=HOSTILE)])
        store.save_instance(Instance(instance_id=EVIL_ID, status=Status.REJECTED, reason="<script>x</script>",
                                     detail=HOSTILE))
        written = build_report(store, tmp_path / "report", engine=False)
    assert written.instances == 7 and written.index == tmp_path / "report" / "index.html"
    return tmp_path / "report"


def test_hostile_problem_statement_and_patch_are_text_not_markup(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    for path in pages:
        page = parse(path)
        assert "script" not in page.tags and "img" not in page.tags and "textarea" not in page.tags, path
        assert not re.search(r"<script", path.read_text(encoding="utf-8"), re.IGNORECASE), path
        csp = [m for m in page.metas if m.get("http-equiv") == "Content-Security-Policy"]
        assert csp and "default-src 'none'" in csp[0]["content"], path
    page = parse(site / "i" / "acme__lib-1.html")
    assert page.text["problem-statement"] == HOSTILE  # escaped once: a browser shows exactly the stored text
    assert "+x = '</pre></span><script>document.title=\"pwned\"</script>'" in page.text["patches"]
    assert "49" not in page.text["problem-statement"]  # {{ 7*7 }} was not evaluated as a template


def test_an_instance_id_cannot_name_a_file_outside_its_folder(site: Path) -> None:
    name = slug(EVIL_ID)
    assert "/" not in name and not name.startswith(".")
    page = site / "i" / f"{name}.html"
    assert page.is_file()
    text = parse(page)
    assert text.text["problem-statement"] == HOSTILE
    listing = (site / "instances" / "page-1.html").read_text(encoding="utf-8")
    assert f"../i/{name}.html" in listing and "&lt;b&gt;repo&lt;/b&gt;" in listing


def test_every_link_resolves_inside_the_site(site: Path) -> None:
    for path in site.rglob("*.html"):
        for link in parse(path).links:
            assert "://" not in link, (path, link)  # no network, no absolute file paths
            target = (path.parent / link.split("#")[0]).resolve()
            assert target.is_file() and target.is_relative_to(site.resolve()), (path, link)


def test_instance_page_shows_reason_f2p_runs_and_log_excerpt(site: Path) -> None:
    valid = (site / "i" / "acme__lib-1.html").read_text(encoding="utf-8")
    assert 'data-status="valid"' in valid and 'data-list="FAIL_TO_PASS"' in valid
    assert "tests/test_m.py::test_new" in valid and "FAILED tests/test_m.py::test_new - assert 1 == 2" in valid
    assert 'data-exit="before-0">1<' in valid and 'data-exit="after-1">0<' in valid
    assert (site / "logs" / "acme__lib-1" / "before-0.log").is_file()
    flaky = (site / "i" / "acme__lib-2.html").read_text(encoding="utf-8")
    assert 'data-reason="flaky"' in flaky and "after run #1" in flaky
    failed = (site / "i" / "acme__lib-4.html").read_text(encoding="utf-8")
    assert "No matching distribution found for nosuchpkg" in failed


def test_overview_and_evals_pages_carry_the_numbers(site: Path) -> None:
    overview = (site / "index.html").read_text(encoding="utf-8")
    assert 'data-count="valid">1<' in overview and 'data-count="rejected/flaky">1<' in overview
    assert 'data-count="pending">1<' in overview and overview.count("<svg") >= 5
    assert "not asked (--no-engine)" in overview
    runs = (site / "evals.html").read_text(encoding="utf-8")
    assert 'data-resolved="gold-1">1<' in runs and "Repair agent: eval-20240301T120000" in runs
    assert "Learning curve" in runs and "training: cumulative resolve rate" in runs


def test_a_second_report_replaces_the_first_and_other_folders_are_refused(site: Path, tmp_path: Path) -> None:
    (site / "stale.html").write_text("old")
    with Store(tmp_path / "f.duckdb") as store:
        build_report(store, site, engine=False)
        assert not (site / "stale.html").exists() and (site / "index.html").is_file()
        other = tmp_path / "mine"
        other.mkdir()
        (other / "notes.txt").write_text("keep me")
        with pytest.raises(UserError):
            build_report(store, other, engine=False)
    assert (other / "notes.txt").read_text() == "keep me"
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_the_command_prints_what_it_wrote_as_json(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from factory.cli import app

    db = tmp_path / "f.duckdb"
    with Store(db) as store:
        fill(store, tmp_path / "logs")
    out = tmp_path / "site"
    result = CliRunner().invoke(app, ["report", "--db", str(db), "--out", str(out), "--no-engine", "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["index"] == str(out / "index.html") and written["instances"] == 6
    assert written["pages"] == 1 + 1 + 1 + 6  # overview, evaluations, one list page, one page per instance
    assert written["logs"] == 2 and written["eval_runs"] == 9  # both after-runs wrote one log file: copied once
    assert sum(1 for _ in out.rglob("*.html")) == written["pages"]
    assert "Example: factory report" in CliRunner().invoke(app, ["report", "--help"]).stdout


def test_without_copies_the_pages_link_to_the_logs_where_they_lie(tmp_path: Path) -> None:
    with Store(tmp_path / "f.duckdb") as store:
        fill(store, tmp_path / "logs")
        written = build_report(store, tmp_path / "report", engine=False, copy_logs=False)
    assert written.logs == 2 and not (tmp_path / "report" / "logs").exists()
    page = (tmp_path / "report" / "i" / "acme__lib-1.html").read_text(encoding="utf-8")
    assert f'href="{(tmp_path / "logs" / "before.log").resolve().as_uri()}"' in page
