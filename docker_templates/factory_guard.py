"""issue-factory pytest guard plugin: canary tests, and per-test results on a channel root reads.

Loaded with ``-p factory_guard`` before any conftest or test module. It reads two canary test names from
the fd in ``FACTORY_GUARD_IN`` (written by root, closed at once, never in the environment), adds one test
that must fail and one that must pass to modules of this run at random places, and writes one JSON line
per test report to the fd in ``FACTORY_GUARD_OUT`` (a pipe to a root-owned file). Code that rewrites
reports inside the test process rewrites the canaries' too, and the grader sees it. The failing canary
does not count towards pytest's exit status, so an honest run exits as it would without it.
PYTEST_DONT_REWRITE (imported by the launcher before pytest could rewrite it).
"""
import json
import os
import random

import pytest

_state = dict(names=None, out=None, armed=False, session=None, fail_seen=False)


def _read_names():
    fd = os.environ.pop("FACTORY_GUARD_IN", "")
    out = os.environ.pop("FACTORY_GUARD_OUT", "")
    if not fd.isdigit() or not out.isdigit():
        return
    try:
        with os.fdopen(int(fd), "r") as stream:
            names = stream.read().split()
        os.set_inheritable(int(out), False)
        _state["out"] = os.fdopen(int(out), "w", buffering=1)
    except OSError:
        return
    if len(names) == 2:
        _state["names"] = names


_read_names()


def _emit(record):
    if _state["out"] is not None:
        _state["out"].write(json.dumps(record) + "\n")


def _canary_fail():
    assert 6 * 7 == 41


def _canary_pass():
    assert 6 * 7 == 42


def pytest_sessionstart(session):
    if _state["session"] is None:
        _state["session"] = session


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    if _state["names"] is None or _state["armed"] or session is not _state["session"]:
        return
    modules = []
    for item in items:
        module = item.getparent(pytest.Module)
        if module is not None and module not in modules:
            modules.append(module)
    if not modules:
        _emit(dict(guard="no module collected: canaries not armed"))
        return
    rng = random.Random(" ".join(_state["names"]))
    for name, body in zip(_state["names"], (_canary_fail, _canary_pass), strict=True):
        item = pytest.Function.from_parent(rng.choice(modules), name=name, callobj=body)
        items.insert(rng.randint(0, len(items)), item)
    _state["armed"] = True
    _emit(dict(guard="armed", modules=len(modules), items=len(items)))


def pytest_collection_finish(session):
    if session is _state["session"] and session.config.option.collectonly:
        names = _state["names"] or ()
        _emit(dict(collected=[i.nodeid for i in session.items if i.nodeid.rsplit("::", 1)[-1] not in names]))


def _text(report):
    try:
        return report.longreprtext[-8000:]
    except Exception:
        return ""


def pytest_collectreport(report):
    if report.failed:
        _emit(dict(nodeid=report.nodeid, when="collect", outcome="failed", text=_text(report)))


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    record = dict(nodeid=report.nodeid, when=report.when, outcome=report.outcome)
    if hasattr(report, "wasxfail"):
        record["xfail"] = True
    if report.failed:
        record["text"] = _text(report)
    _emit(record)
    session = _state["session"]
    names = _state["names"]
    if (names and session is not None and report.failed and report.when == "call"
            and report.nodeid.rsplit("::", 1)[-1] == names[0] and not _state["fail_seen"]):
        # The failing canary failed as it must: it does not count as a failure of the run.
        _state["fail_seen"] = True
        session.testsfailed -= 1
        maxfail = session.config.getoption("maxfail", 0)
        if session.shouldfail and (not maxfail or session.testsfailed < maxfail):
            session.shouldfail = False


def pytest_sessionfinish(session, exitstatus):
    if session is _state["session"]:
        _emit(dict(exitstatus=int(exitstatus)))
