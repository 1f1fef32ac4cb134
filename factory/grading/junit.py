"""JUnit XML reports → pytest node ids and outcomes (with each failure's text).

The grader reads per-test outcomes from the guard plugin's stream; the JUnit report pytest writes beside it
is the cross-check (two records of one pytest process must agree), and the ids must be node ids that
``pytest <id>`` accepts, whatever ``classname`` / ``file`` shapes the report uses (``_test_id``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import PurePosixPath

from factory.core.models import TestOutcome
from factory.grading.contract import FAILURE_TEXT_LIMIT


def _is_test_module(part: str) -> bool:
    """Whether a dotted classname part names a module by pytest's default ``python_files``
    (``test_*.py``, ``*_test.py``). Not ``tests``: a folder of that name is not a test module."""
    return part.startswith("test_") or part.endswith("_test")


def _split_classname(parts: list[str]) -> tuple[str, list[str]]:
    """The collecting file of a dotted xunit classname (``tests.unit.test_x.TestFoo``), and the class
    names after it: the longest prefix ending in a default test-module name (``tests/unit/test_x.py``,
    ``[TestFoo]``); failing that (a module named by a custom ``python_files`` or passed explicitly), the
    parts before the first capitalized one, since classes are ``Test*`` by default and modules lowercase."""
    split = max((i for i, p in enumerate(parts) if _is_test_module(p)), default=None)
    if split is None:
        split = next((i - 1 for i, p in enumerate(parts) if i and p[:1].isupper()), len(parts) - 1)
    return "/".join(parts[: split + 1]) + ".py", parts[split + 1 :]


def _test_id(case: ET.Element) -> str:
    """The pytest node id ``path/to/test_file.py::Class::name`` of a JUnit testcase.

    pytest writes ``classname`` from the node id (its path dotted, ``.py`` dropped, then the classes) and
    ``file`` from where the test function is *defined*. Those differ for a test inherited from a base class
    or imported from another module (``classname="tests.test_a.TestA"``, ``file="tests/base.py"``): the node
    id names the collecting file, so ``file`` is used only when its dotted path is a prefix of
    ``classname``; otherwise (and in xunit2 reports, which have no ``file``) the path comes from
    ``classname`` itself.
    """
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file") or ""
    module = ".".join(PurePosixPath(file).with_suffix("").parts) if file else ""
    if not classname:  # a module or directory that failed to collect: its node id is its path
        if file and name == module:
            return file
        parts = name.split(".")
        return "/".join(parts) + (".py" if _is_test_module(parts[-1]) else "")
    if module and (classname == module or classname.startswith(module + ".")):
        path, classes = file, classname[len(module) :].lstrip(".").split(".")
    else:
        path, classes = _split_classname(classname.split("."))
    return "::".join(p for p in (path, *classes, name) if p)


def parse_junit(xml_text: str) -> dict[str, TestOutcome]:
    """Per-test outcomes from a JUnit XML report; raises ValueError if it is not one."""
    return junit_results(xml_text)[0]


def junit_results(xml_text: str) -> tuple[dict[str, TestOutcome], dict[str, str]]:
    """Per-test outcomes, and the failure text (message + traceback) of each failed or errored test."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not a JUnit XML report: {exc}") from exc
    results: dict[str, TestOutcome] = {}
    texts: dict[str, str] = {}
    for case in root.iter("testcase"):
        problem = case.find("error")
        outcome = TestOutcome.ERROR
        if problem is None:
            problem, outcome = case.find("failure"), TestOutcome.FAILED
        if problem is None:
            outcome = TestOutcome.SKIPPED if case.find("skipped") is not None else TestOutcome.PASSED
        test_id = _test_id(case)
        # A test that passes its call but errors in teardown appears twice: the worse outcome wins.
        if results.get(test_id) in (TestOutcome.ERROR, TestOutcome.FAILED):
            continue
        results[test_id] = outcome
        if problem is not None:
            text = f"{problem.get('message', '')}\n{problem.text or ''}"
            texts[test_id] = text[-FAILURE_TEXT_LIMIT:]
    return results, texts
