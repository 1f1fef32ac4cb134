"""Heuristic builder roles without Docker: explorer facts, eval script, recipes, build-failure summaries.

Repositories are real (tiny git repos read through a mirror); the eval script is run with bash in a real
checkout, with the venv's pytest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.builder import test_manager, test_needs
from agents.builder.environment_manager import EnvPlan, InstancePlan, plan_env, plan_instance
from agents.builder.explorer import REBUILD_EXTENSIONS, SetupFacts, choose_python, explore
from agents.builder.test_analyst import explain_build_failure
from factory.core.models import Candidate, Status
from factory.core.models import TestOutcome as Outcome
from factory.grading.classify import classify
from factory.grading.failure_cause import fix_facts
from factory.grading.junit import parse_junit
from factory.grading.verdict import grade_files
from factory.mining.mirror import Snapshot, open_mirror
from factory.mining.split import split_diff
from tests.grades import printed

SETUPTOOLS = "python -m pip install --upgrade setuptools wheel"
SETUP_PY_PLAIN = "from setuptools import setup\nsetup()\n"
PYTEST = "python -m pip install pytest"
AVAILABLE = ("3.9", "3.11", "3.13")
DIFF_ARGS = ("diff", "--binary", "--full-index", "--no-color", "--no-ext-diff")


def snapshot_of(repo, tmp_path: Path, sha: str | None = None) -> Snapshot:
    mirror = open_mirror(str(repo.root), tmp_path / "mirrors")
    return Snapshot(mirror, sha or repo.text("rev-parse", "HEAD"))


def explored(make_repo, tmp_path: Path, files: dict[str, str]) -> SetupFacts:
    repo = make_repo()
    repo.commit("init", {"src/pkg/__init__.py": "", **files})
    return explore(snapshot_of(repo, tmp_path))


# ---- choose_python --------------------------------------------------------------------------------


def test_choose_python_default_when_allowed() -> None:
    version, reason = choose_python(None, set(), "3.11", AVAILABLE)
    assert version == "3.11"
    assert "default" in reason
    assert choose_python(">=3.8", set(), "3.11", AVAILABLE)[0] == "3.11"


def test_choose_python_requires_excludes_default() -> None:
    version, reason = choose_python(">=3.12", set(), "3.11", AVAILABLE)
    assert version == "3.13"
    assert ">=3.12" in reason
    assert choose_python("<3.10", set(), "3.11", AVAILABLE)[0] == "3.9"
    assert choose_python(">=3.6,<3.10", set(), "3.11", AVAILABLE)[0] == "3.9"


def test_choose_python_old_declared_versions_pick_the_nearest() -> None:
    version, reason = choose_python(None, {"3.6", "3.7", "3.8"}, "3.11", AVAILABLE)
    assert version == "3.9"
    assert "3.6, 3.7, 3.8" in reason


def test_choose_python_declared_default_wins_ties() -> None:
    assert choose_python(None, {"3.10", "3.11", "3.12"}, "3.11", AVAILABLE)[0] == "3.11"
    # 3.11 and 3.13 are both one minor away from 3.12: the default breaks the tie.
    assert choose_python(None, {"3.12"}, "3.11", AVAILABLE)[0] == "3.11"
    assert choose_python(None, {"3.13"}, "3.11", AVAILABLE)[0] == "3.13"


def test_choose_python_declared_respects_requires() -> None:
    assert choose_python(">=3.10", {"3.8", "3.9", "3.10"}, "3.11", AVAILABLE)[0] == "3.11"


@pytest.mark.parametrize(
    ("requires", "declared", "expected"),
    [
        (">=3.14", set(), "3.13"),
        (">3.13", set(), "3.13"),
        ("<3.0", set(), "3.9"),
        ("==2.7.*", set(), "3.9"),
        ("<3.8", {"3.6", "3.7"}, "3.9"),
        (">=3.14", {"3.14"}, "3.13"),
        ("===weird", set(), "3.11"),
    ],
)
def test_choose_python_unsatisfiable_gives_nearest_with_reason(
    requires: str, declared: set[str], expected: str
) -> None:
    version, reason = choose_python(requires, declared, "3.11", AVAILABLE)
    assert version == expected
    assert "no available Python satisfies" in reason
    assert requires in reason
    assert f"nearest is {expected}" in reason


def test_choose_python_invalid_spec_is_ignored() -> None:
    assert choose_python("not a spec", set(), "3.11", AVAILABLE)[0] == "3.11"


# ---- explore --------------------------------------------------------------------------------------

PYPROJECT_EXTRAS = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "pkg"
version = "0.1"
requires-python = ">=3.8"
classifiers = ["Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12"]

[project.optional-dependencies]
dev = ["ruff"]
docs = ["sphinx"]
test = ["pytest>=7", "hypothesis"]
"""


def test_explore_pyproject_extras(make_repo, tmp_path: Path) -> None:
    facts = explored(make_repo, tmp_path, {"pyproject.toml": PYPROJECT_EXTRAS})
    # The extras come in TEST_EXTRAS order, not file order; "docs" is not a test extra.
    assert facts.install_commands == [SETUPTOOLS, "python -m pip install '.[test,dev]'", PYTEST]
    assert facts.installable is True
    assert facts.python_version == "3.11"
    assert "3.11, 3.12" in facts.python_reason
    assert set(facts.dependency_files) == {"pyproject.toml"}
    assert test_needs.TEST_EXTRAS.index("test") < test_needs.TEST_EXTRAS.index("dev")


def test_explore_requires_python_in_pyproject(make_repo, tmp_path: Path) -> None:
    pyproject = '[project]\nname = "pkg"\nversion = "1"\nrequires-python = ">=3.12"\n'
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert facts.python_version == "3.13"
    assert facts.install_commands == [SETUPTOOLS, "python -m pip install '.'", PYTEST]


def test_explore_setup_cfg_extras_and_python_requires(make_repo, tmp_path: Path) -> None:
    setup_cfg = (
        "[metadata]\nname = pkg\n\n[options]\npython_requires = <3.10\npackages = find:\n\n"
        "[options.extras_require]\ntesting =\n    pytest\n    mock\ndocs = sphinx\n"
    )
    facts = explored(
        make_repo, tmp_path, {"setup.cfg": setup_cfg, "setup.py": "from setuptools import setup\nsetup()\n"}
    )
    assert facts.install_commands == [SETUPTOOLS, "python -m pip install '.[testing]'", PYTEST]
    assert facts.python_version == "3.9"
    assert set(facts.dependency_files) == {"setup.cfg", "setup.py"}


def test_explore_setup_py_extras_and_python_requires(make_repo, tmp_path: Path) -> None:
    setup_py = (
        "from setuptools import setup\n\n"
        "setup(\n    name='pkg',\n    python_requires='>=3.6, <3.10',\n"
        "    extras_require={\n        'docs': ['sphinx'],\n"
        "        \"tests\": ['pytest', 'mock>=2'],\n    },\n"
        "    classifiers=['Programming Language :: Python :: 3.7'],\n)\n"
    )
    facts = explored(make_repo, tmp_path, {"setup.py": setup_py})
    assert facts.install_commands == [SETUPTOOLS, "python -m pip install '.[tests]'", PYTEST]
    assert facts.python_version == "3.9"
    assert facts.installable is True


def test_compiled_extensions_are_rebuilt_after_the_patches(make_repo, tmp_path: Path) -> None:
    setup = ("from setuptools import Extension, setup\n"
             "setup(ext_modules=[Extension('pkg._speedups', ['src/pkg/_speedups.c'])])\n")
    facts = explored(make_repo, tmp_path, {"setup.py": setup, "src/pkg/_speedups.c": "int x;\n"})
    assert facts.pre_test_commands == [REBUILD_EXTENSIONS]
    assert facts.recipe().pre_test_commands == [REBUILD_EXTENSIONS]
    repo = make_repo("plain")  # C only among the test fixtures: nothing to rebuild
    repo.commit("init", {"setup.py": SETUP_PY_PLAIN, "pkg/__init__.py": "", "tests/fixtures/sample.c": "int y;\n"})
    assert explore(snapshot_of(repo, tmp_path / "plain-mirror")).pre_test_commands == []


def test_explore_requirement_files(make_repo, tmp_path: Path) -> None:
    facts = explored(
        make_repo,
        tmp_path,
        {
            "setup.py": "from setuptools import setup\nsetup(name='pkg')\n",
            "requirements.txt": "requests\n",
            "requirements-test.txt": "pytest\n",
            "requirements/dev.txt": "ruff\n",
            "requirements/docs.txt": "sphinx\n",
            "docs/requirements.txt": "sphinx\n",
        },
    )
    # Files are read here, not by pip: their validated requirements are installed (pytest once, last).
    assert facts.install_commands == [
        SETUPTOOLS,
        "python -m pip install requests",
        "python -m pip install '.'",
        PYTEST,  # requirements/dev.txt is not installed: a test requirements file exists (pallets: dev pins docs tools)
    ]
    assert set(facts.dependency_files) == {
        "setup.py",
        "requirements.txt",
        "requirements-test.txt",
        "requirements/dev.txt",
        "requirements/docs.txt",
    }


def test_explore_tox_deps_and_envlist(make_repo, tmp_path: Path) -> None:
    tox = (
        "[tox]\nenvlist = py37, py38\n\n[testenv]\ndeps =\n    pytest-cov\n    mock>=2  # comment\n"
        "    -rrequirements-extra.txt\n    py38: oldthing\n    django{32,42}\ncommands = pytest\n"
    )
    facts = explored(
        make_repo, tmp_path, {"setup.py": "from setuptools import setup\nsetup()\n", "tox.ini": tox}
    )
    assert facts.install_commands == [
        SETUPTOOLS,
        "python -m pip install '.'",
        "python -m pip install pytest-cov 'mock>=2'",
        PYTEST,
    ]
    assert any("requirements-extra.txt" in n and "refused" in n for n in facts.notes)
    assert facts.python_version == "3.9"
    assert "3.7, 3.8" in facts.python_reason


@pytest.mark.parametrize(
    "workflow",
    [
        "    strategy:\n      matrix:\n        python-version: ['3.12', \"3.13\"]\n",
        "    strategy:\n      matrix:\n        python-version:\n          - '3.12'\n          - \"3.13\"\n",
    ],
    ids=["flow-list", "block-list"],
)
def test_explore_ci_python_matrix(make_repo, tmp_path: Path, workflow: str) -> None:
    ci = "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n" + workflow
    facts = explored(
        make_repo,
        tmp_path,
        {
            "setup.py": "from setuptools import setup\nsetup()\n",
            ".github/workflows/ci.yml": ci,
        },
    )
    assert facts.python_version == "3.13"
    assert "3.12, 3.13" in facts.python_reason


def test_explore_single_ci_python_version(make_repo, tmp_path: Path) -> None:
    ci = (
        "jobs:\n  t:\n    steps:\n      - uses: actions/setup-python@v5\n"
        "        with:\n          python-version: 3.8\n"
    )
    facts = explored(make_repo, tmp_path, {"setup.py": "", ".github/workflows/t.yaml": ci})
    assert facts.python_version == "3.9"


def test_explore_pyproject_without_build_system_is_not_installed(make_repo, tmp_path: Path) -> None:
    facts = explored(
        make_repo,
        tmp_path,
        {
            "pyproject.toml": "[tool.black]\nline-length = 100\n",
            "requirements.txt": "attrs\n",
        },
    )
    assert facts.installable is False
    assert facts.install_commands == [SETUPTOOLS, "python -m pip install attrs", PYTEST]
    assert facts.notes


def test_explore_plain_repo(make_repo, tmp_path: Path) -> None:
    facts = explored(make_repo, tmp_path, {"tests/test_a.py": "def test_a():\n    pass\n"})
    assert facts.installable is False
    assert facts.install_commands == [SETUPTOOLS, PYTEST]
    assert facts.python_version == "3.11"
    assert facts.dependency_files == {}


def test_explore_pytest_is_always_last(make_repo, tmp_path: Path) -> None:
    facts = explored(
        make_repo,
        tmp_path,
        {
            "pyproject.toml": PYPROJECT_EXTRAS,
            "requirements.txt": "x\n",
            "requirements-dev.txt": "y\n",
            "tox.ini": "[testenv]\ndeps = coverage\n",
        },
    )
    assert facts.install_commands[0] == SETUPTOOLS
    assert facts.install_commands[-1] == PYTEST
    assert facts.install_commands.count(PYTEST) == 1


def test_fingerprint_follows_dependency_files_only(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    first = repo.commit(
        "init", {"pyproject.toml": PYPROJECT_EXTRAS, "src/pkg/__init__.py": "", "README.md": "a"}
    )
    same = repo.commit(
        "code only", {"src/pkg/__init__.py": "X = 1\n", "README.md": "b", "tests/test_a.py": ""}
    )
    changed = repo.commit("deps", {"pyproject.toml": PYPROJECT_EXTRAS.replace("hypothesis", "hypothesis>=6")})
    mirror = open_mirror(str(repo.root), tmp_path / "mirrors")
    facts = {sha: explore(Snapshot(mirror, sha)) for sha in (first, same, changed)}
    assert facts[first].fingerprint() == facts[same].fingerprint()
    assert facts[first].fingerprint() == explore(Snapshot(mirror, first)).fingerprint()  # deterministic
    assert facts[changed].fingerprint() != facts[first].fingerprint()
    # The install commands are equal: only the file contents tell the two apart.
    assert facts[changed].install_commands == facts[first].install_commands
    assert re.fullmatch(r"[0-9a-f]{64}", facts[first].fingerprint())


# ---- test manager ---------------------------------------------------------------------------------


def test_target_tests_modules_only() -> None:
    files = [
        "tests/test_b.py",
        "tests/conftest.py",
        "tests/__init__.py",
        "tests/test_a.py",
        "tests/data/x.json",
        "tests/test_a.py",
        "src/pkg/tests/test_c.py",
    ]
    assert test_manager.target_tests(files) == [
        "src/pkg/tests/test_c.py",
        "tests/test_a.py",
        "tests/test_b.py",
    ]


def test_a_helper_only_test_patch_runs_its_folder_unless_the_project_names_its_test_modules(
    make_repo, tmp_path: Path
) -> None:
    """marshmallow: a fix whose test patch changes only ``tests/base.py`` (shared fixtures) ran no test."""
    repo = make_repo()
    repo.commit("init", {"setup.py": "", "tests/base.py": "", "tests/test_a.py": ""})
    assert test_manager.target_tests(["tests/base.py"], snapshot_of(repo, tmp_path)) == ["tests"]
    repo.commit("own pattern", {"setup.cfg": "[tool:pytest]\npython_files = check_*.py base.py\n"})
    assert test_manager.target_tests(["tests/base.py"], snapshot_of(repo, tmp_path / "2")) == ["tests/base.py"]


def test_target_tests_prefer_pytest_named_modules_over_helpers() -> None:
    files = ["tests/helpers.py", "tests/data/version.py", "tests/test_a.py", "tests/unit/b_test.py"]
    assert test_manager.target_tests(files) == ["tests/test_a.py", "tests/unit/b_test.py"]
    # a project with its own python_files pattern: no module has a default test name, all of them run
    assert test_manager.target_tests(["tests/check_a.py", "tests/check_b.py"]) == [
        "tests/check_a.py", "tests/check_b.py"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["tests/data/x.json"], ["tests"]),
        (["tests/data/x.json", "tests/fixtures/deep/y.bin"], ["tests"]),
        (["pkg/tests/fixtures/y.txt", "tests/data/x.json"], ["pkg/tests", "tests"]),
        (["tests/conftest.py"], ["tests"]),
        (["tests/unit/__init__.py", "tests/unit/conftest.py"], ["tests"]),
        (["conftest.py"], ["."]),
        (["src/conftest.py"], ["src"]),
    ],
)
def test_target_tests_without_modules_run_their_folder(files: list[str], expected: list[str]) -> None:
    assert test_manager.target_tests(files) == expected


def test_test_command_quotes_targets() -> None:
    command = test_manager.test_command(["tests/test_a.py", "tests/test b.py"])
    assert command.startswith("$FACTORY_PYTEST ")  # the eval script's launcher: the work tree cannot shadow it
    assert "-o junit_family=xunit1" in command
    assert f'--junitxml="{test_manager.JUNIT_PATH}"' in command
    assert command.endswith("tests/test_a.py 'tests/test b.py'")


# A tiny project whose fix adds a test to an existing module (plus a passing one kept) and a new test
# module importing what the fix adds: the before-run fails, the after-run passes.
BASE_FILES = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
    "tests/test_calc.py": "from pkg.calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n",
}
FIX_FILES = {
    "pkg/calc.py": (
        "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n\n\n"
        "def neg(a):\n    return -a\n"
    ),
    "tests/test_calc.py": (
        "from pkg.calc import add, mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n\n\n"
        "def test_add():\n    assert add(2, 2) == 4\n"
    ),
    "tests/test_neg.py": (
        "import pytest\n\nfrom pkg.calc import neg\n\n\n@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_neg(n):\n    assert neg(n) == -n\n"
    ),
}


@pytest.fixture
def fixed_repo(make_repo, tmp_path: Path):
    """(repo, snapshot at base, candidate) for the tiny project above."""
    repo = make_repo()
    base = repo.commit("base", BASE_FILES)
    fix = repo.commit("fix add, add neg", FIX_FILES)
    split = split_diff(repo(*DIFF_ARGS, base, fix).decode())
    candidate = Candidate(
        instance_id="local__repo-1",
        repo="local/repo",
        base_commit=base,
        fix_commit=fix,
        patch=split.patch,
        test_patch=split.test_patch,
        problem_statement="add() subtracts",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        source=f"git:{repo.root}",
        test_files=split.test_files,
    )
    return repo, snapshot_of(repo, tmp_path, base), candidate


def heredoc(script: str) -> tuple[str, str]:
    """(delimiter, body) of the heredoc that writes the test patch."""
    match = re.search(r"^cat >\"\$factory_test_patch\" <<'([^']+)'\n(.*?)^\1$", script, re.S | re.M)
    assert match, script
    return match.group(1), match.group(2)


def test_eval_script_inlines_the_test_patch(fixed_repo) -> None:
    _, snapshot, candidate = fixed_repo
    assert candidate.test_files == ["tests/test_calc.py", "tests/test_neg.py"]
    script = test_manager.write_eval_script(candidate, snapshot)
    delimiter, body = heredoc(script)
    assert body == candidate.test_patch
    assert delimiter not in candidate.test_patch
    assert script.rstrip("\n").endswith('echo "FACTORY_EXIT_CODE=$rc"')
    # Test files are reset by the guard (every test-machinery path a patch changed), not by name.
    assert f"factory_base={candidate.base_commit}\n" in script
    assert "\nfactory_restore_machinery\n" in script.split('cat >"$factory_test_patch"')[0]
    assert test_manager.test_command(["tests/test_calc.py", "tests/test_neg.py"]) in script
    assert test_manager.write_eval_script(candidate, snapshot) == script
    other = candidate.model_copy(update={"test_patch": candidate.test_patch.replace("2, 2", "3, 1")})
    assert heredoc(test_manager.write_eval_script(other, snapshot))[1] == other.test_patch


def run_script(script: str, checkout: Path, scratch: Path, results: Path | None = None) -> str:
    """Run a rendered script with bash: /testbed -> ``checkout``; /tmp/factory-*, /factory/ -> ``scratch``;
    the results folder -> ``results`` (a fresh temporary one when None)."""
    local = (
        script.replace("cd /testbed", f"cd {checkout}")
        .replace("/tmp/factory-", f"{scratch}/factory-")
        .replace("/factory/", f"{scratch}/")
    )
    path = scratch / "script.sh"
    path.write_text(local)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if results is not None:
        env["FACTORY_RESULTS"] = str(results)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        ["bash", str(path)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    return proc.stdout + proc.stderr


def checkout_at(repo, sha: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo.root), str(dest)], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", sha], check=True, capture_output=True)
    return dest


def test_eval_script_runs_before_and_after(fixed_repo, tmp_path: Path) -> None:
    repo, snapshot, candidate = fixed_repo
    eval_script = test_manager.write_eval_script(candidate, snapshot)

    def phase(name: str, fix_patch: str) -> tuple[str, dict[str, bytes]]:
        scratch = tmp_path / name
        scratch.mkdir()
        results = scratch / "results"
        checkout = checkout_at(repo, candidate.base_commit, tmp_path / f"{name}-testbed")
        (scratch / "eval.sh").write_text(eval_script.replace("cd /testbed", f"cd {checkout}"))
        (scratch / "fix.patch").write_text(fix_patch)
        log = run_script(test_manager.run_driver("gold_patch"), checkout, scratch, results)
        files = {f"/run/factory/{p.name}": p.read_bytes() for p in results.iterdir()}
        assert "/run/factory/status" in files and "/run/factory/tests.jsonl" in files, log
        return log, files

    before_log, before_files = phase("before", "")
    assert "FACTORY_EXIT_CODE=1" in before_log.splitlines(), before_log
    before = grade_files(before_log, before_files)
    assert not before.tampered, before.note
    assert before.tests == {
        "tests/test_calc.py::test_mul": Outcome.PASSED,
        "tests/test_calc.py::test_add": Outcome.FAILED,
        "tests/test_neg.py": Outcome.ERROR,
    }
    assert parse_junit(before_files["/run/factory/junit.xml"].decode()).keys() >= before.tests.keys()
    after_log, after_files = phase("after", candidate.patch)
    assert "FACTORY_EXIT_CODE=0" in after_log.splitlines(), after_log
    after = grade_files(after_log, after_files)
    assert (before.verdict, after.verdict) == ("fail", "pass"), (before.note, after.note)
    verdict = classify([before], [after, after], fix_facts(candidate.patch, candidate.test_patch))
    assert verdict.status is Status.VALID, verdict
    assert verdict.fail_to_pass == [
        "tests/test_calc.py::test_add",
        "tests/test_neg.py::test_neg[1]",
        "tests/test_neg.py::test_neg[2]",
    ]
    assert verdict.pass_to_pass == ["tests/test_calc.py::test_mul"]


def test_eval_script_resets_a_dirty_test_file_and_accepts_an_applied_patch(
    fixed_repo, tmp_path: Path
) -> None:
    repo, snapshot, candidate = fixed_repo
    checkout = checkout_at(repo, candidate.base_commit, tmp_path / "testbed")
    (checkout / "tests" / "test_calc.py").write_text("garbage that would break the patch\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    log = run_script(test_manager.write_eval_script(candidate, snapshot), checkout, scratch)
    assert "FACTORY_EXIT_CODE=1" in log.splitlines(), log
    assert "FACTORY_PATCH_FAILED" not in log
    # The gold patch applied twice: the second time it is accepted as already applied.
    (scratch / "eval.sh").write_text("echo FACTORY_EXIT_CODE=0\n")
    (scratch / "fix.patch").write_text(candidate.patch)
    driver = test_manager.run_driver("gold_patch")
    assert run_script(driver, checkout, scratch).splitlines()[-1] == "FACTORY_EXIT_CODE=0"
    log = run_script(driver, checkout, scratch)
    assert "gold_patch is already applied" in log
    assert log.splitlines()[-1] == "FACTORY_EXIT_CODE=0"
    # ... and left as it is, not reversed.
    assert (checkout / "pkg" / "calc.py").read_text() == FIX_FILES["pkg/calc.py"]


def test_run_driver_reports_a_gold_patch_that_does_not_apply(fixed_repo, tmp_path: Path) -> None:
    repo, _, candidate = fixed_repo
    checkout = checkout_at(repo, candidate.base_commit, tmp_path / "testbed")
    (checkout / "pkg" / "calc.py").write_text("something else entirely\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "eval.sh").write_text("echo FACTORY_EXIT_CODE=0\n")
    (scratch / "fix.patch").write_text(candidate.patch)
    log = run_script(test_manager.run_driver("gold_patch"), checkout, scratch)
    assert "FACTORY_PATCH_FAILED=gold_patch" in log.splitlines()
    assert "FACTORY_EXIT_CODE" not in log
    assert printed(log, "FACTORY_PATCH_FAILED") == "gold_patch"  # the verdict reads it from the status file


# ---- environment manager --------------------------------------------------------------------------

DOCKER_REFERENCE = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r":[\w][\w.-]{0,127}"
)


def candidate_at(base: str, repo: str = "Owner/My.Repo") -> Candidate:
    return Candidate(
        instance_id=f"x-{base[:4]}",
        repo=repo,
        base_commit=base,
        fix_commit="f" * 40,
        patch="",
        test_patch="",
        problem_statement="",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        source="git:/x",
    )


def write_env_recipe(candidate: Candidate, facts: SetupFacts) -> EnvPlan:
    """The env plan for the heuristic recipe of ``facts`` (no dependency cut-off)."""
    return plan_env(candidate, facts.recipe(), facts.fingerprint())


def write_instance_recipe(candidate: Candidate, facts: SetupFacts, env_image: str) -> InstancePlan:
    return plan_instance(candidate, facts.recipe(), env_image)


def facts_with(commands: list[str], files: dict[str, str] | None = None) -> SetupFacts:
    return SetupFacts("3.11", "default", commands, True, files or {"pyproject.toml": "ab" * 32})


def test_env_tag_is_stable_for_the_same_facts() -> None:
    facts = facts_with([SETUPTOOLS, "python -m pip install '.[test]'", PYTEST])
    one = write_env_recipe(candidate_at("a" * 40), facts)
    again = write_env_recipe(candidate_at("a" * 40), facts_with(list(facts.install_commands)))
    other_commit = write_env_recipe(candidate_at("b" * 40), facts)
    assert one == again
    assert other_commit.image_tag == one.image_tag
    assert other_commit.dockerfile != one.dockerfile  # only the comment naming the commit differs
    assert one.fingerprint == facts.fingerprint()
    assert one.base_image == "issue-factory/python:3.11"
    assert one.image_tag.startswith("issue-factory/env.owner_1776_my.repo:")
    assert DOCKER_REFERENCE.fullmatch(one.image_tag)
    for command in facts.install_commands:
        assert f"RUN {command}\n" in one.dockerfile


def test_env_tag_changes_with_the_recipe() -> None:
    base = write_env_recipe(candidate_at("a" * 40), facts_with([SETUPTOOLS, PYTEST]))
    more = write_env_recipe(
        candidate_at("a" * 40), facts_with([SETUPTOOLS, "python -m pip install '.'", PYTEST])
    )
    files = write_env_recipe(
        candidate_at("a" * 40), facts_with([SETUPTOOLS, PYTEST], {"setup.py": "cd" * 32})
    )
    py39 = SetupFacts("3.9", "old", [SETUPTOOLS, PYTEST], True, {"pyproject.toml": "ab" * 32})
    older = write_env_recipe(candidate_at("a" * 40), py39)
    tags = {base.image_tag, more.image_tag, files.image_tag, older.image_tag}
    assert len(tags) == 4
    assert older.base_image == "issue-factory/python:3.9"


def test_instance_tag_differs_per_base_commit() -> None:
    facts = facts_with([SETUPTOOLS, PYTEST])
    env = write_env_recipe(candidate_at("a" * 40), facts).image_tag
    a = write_instance_recipe(candidate_at("a" * 40), facts, env)
    a_again = write_instance_recipe(candidate_at("a" * 40), facts, env)
    b = write_instance_recipe(candidate_at("b" * 40), facts, env)
    assert a == a_again
    assert a.image_tag != b.image_tag
    assert a.image_tag.startswith("issue-factory/instance.owner_1776_my.repo:")
    assert DOCKER_REFERENCE.fullmatch(a.image_tag)
    assert f"FROM {env}\n" in a.dockerfile
    assert "a" * 40 in a.dockerfile
    assert "pip install --no-deps" in a.dockerfile
    plain = SetupFacts("3.11", "default", [SETUPTOOLS, PYTEST], False, {})
    assert "pip install" not in write_instance_recipe(candidate_at("a" * 40), plain, env).dockerfile


@pytest.mark.parametrize("repo", ["local/tinyledger", "psf/requests", "Owner/Repo_Name-2", "me/.dotted."])
def test_image_tags_are_valid_docker_references(repo: str) -> None:
    facts = facts_with([PYTEST])
    env = write_env_recipe(candidate_at("a" * 40, repo), facts)
    inst = write_instance_recipe(candidate_at("a" * 40, repo), facts, env.image_tag)
    assert DOCKER_REFERENCE.fullmatch(env.image_tag), env.image_tag
    assert DOCKER_REFERENCE.fullmatch(inst.image_tag), inst.image_tag


# ---- test analyst: build failures ----------------------------------------------------------------

BUILD_LOG = (
    "Step 1/6 : FROM issue-factory/python:3.11\n"
    " ---> 1234\n"
    "Step 5/6 : RUN python -m pip install '.[test]'\n"
    "Collecting nosuchpkg==9.9\n"
    "\x1b[31mERROR: Could not find a version that satisfies the requirement nosuchpkg==9.9\x1b[0m\n"
    "\x1b[1;31mERROR: No matching distribution found for nosuchpkg==9.9\x1b[0m\n"
    "\n"
    "The command '/bin/sh -c python -m pip install '.[test]'' returned a non-zero code: 1\n"
)


def test_explain_build_failure_keeps_error_lines_without_ansi() -> None:
    text = explain_build_failure(BUILD_LOG)
    assert text.splitlines() == [
        "ERROR: Could not find a version that satisfies the requirement nosuchpkg==9.9",
        "ERROR: No matching distribution found for nosuchpkg==9.9",
        "The command '/bin/sh -c python -m pip install '.[test]'' returned a non-zero code: 1",
    ]
    assert "\x1b" not in text
    assert "Step 1/6" not in text


def test_explain_build_failure_without_error_lines_keeps_the_tail() -> None:
    log = "".join(f"\x1b[32mline {i}\x1b[0m\n" for i in range(30))
    text = explain_build_failure(log)
    assert text.splitlines() == [f"line {i}" for i in range(18, 30)]


def test_explain_build_failure_respects_the_limit() -> None:
    log = "".join(f"ERROR: problem number {i}\n" for i in range(100))
    text = explain_build_failure(log, limit=200)
    assert len(text) <= 200
    assert text.endswith("ERROR: problem number 99")
