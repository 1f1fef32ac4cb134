"""What the explorer installs for a test suite, one conventional place at a time (agents/builder/test_needs).

Every repository is a tiny real git repo read through a mirror, as the builder reads it; nothing in it is
ever executed. Each test names one place a project declares its test needs and checks the install
commands, the files the fingerprint covers, and the notes for what was refused.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from agents.builder.explorer import SetupFacts, explore
from agents.builder.poetry_specs import pep440
from agents.builder.static_python import read_setup_py
from factory.core.recipe import Recipe
from factory.mining.mirror import Snapshot, open_mirror

SETUPTOOLS = "python -m pip install --upgrade setuptools wheel"
PYTEST = "python -m pip install pytest"
BUILD = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
PROJECT = BUILD + '[project]\nname = "pkg"\nversion = "0.1"\n'
SETUP_PY = "from setuptools import setup\nsetup()\n"


def explored(make_repo, tmp_path: Path, files: dict[str, str]) -> SetupFacts:
    repo = make_repo()
    repo.commit("init", {"src/pkg/__init__.py": "", **files})
    mirror = open_mirror(str(repo.root), tmp_path / "mirrors")
    return explore(Snapshot(mirror, repo.text("rev-parse", "HEAD")))


def installed(facts: SetupFacts) -> list[list[str]]:
    """The shell words after ``pip install`` of every command between setuptools and pytest (its first
    command: exact pins fall back to the same names after ``||``, see ``test_exact_pins_fall_back…``)."""
    assert facts.install_commands[0] == SETUPTOOLS and facts.install_commands[-1] == PYTEST
    words = [shlex.split(c) for c in facts.install_commands[1:-1]]
    return [w[4:w.index("||")] if "||" in w else w[4:] for w in words]


def test_exact_pins_fall_back_to_the_same_names_as_of_the_commit_s_day(make_repo, tmp_path: Path) -> None:
    """markupsafe's requirements/tests.txt pins iniconfig==1.0.0, whose wheel uv refuses (inconsistent
    metadata): the pinned install falls back to the names, still resolved under the cut-off."""
    files = {"setup.py": SETUP_PY,
             "requirements/tests.txt": "iniconfig==1.0.0\npy>=1.9\nsix[x]==1.15; python_version<'4'\n"}
    (command,) = [c for c in explored(make_repo, tmp_path, files).install_commands if "iniconfig" in c]
    first, fallback = (shlex.split(part) for part in command.split(" || "))
    assert first[4:] == ["iniconfig==1.0.0", "py>=1.9", 'six[x]==1.15; python_version < "4"']
    assert fallback[4:] == ["iniconfig", "py>=1.9", 'six[x]; python_version < "4"']


def test_pyproject_optional_dependencies_ask_every_test_extra_but_docs(make_repo, tmp_path: Path) -> None:
    pyproject = PROJECT + (
        "[project.optional-dependencies]\ndocs = ['sphinx']\ntest-docs = ['x']\nintegration-tests = ['y']\n"
        "dev = ['ruff']\ntesting = ['pytest']\nspeedups = ['ujson']\n"
    )
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [[".[testing,dev,integration-tests]"]]
    assert {"sphinx", "ruff", "ujson"} <= set(facts.requirements)


def test_dependency_groups_with_include_group(make_repo, tmp_path: Path) -> None:
    pyproject = PROJECT + (
        "[dependency-groups]\nbase = ['attrs>=22']\n"
        "tests = ['hypothesis', {include-group = 'base'}, {include-group = 'Coverage'}]\n"
        "coverage = ['coverage[toml]']\ndocs = ['sphinx']\n"
    )
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [["."], ["hypothesis", "attrs>=22", "coverage[toml]"]]


def test_dependency_group_cycle_is_refused(make_repo, tmp_path: Path) -> None:
    pyproject = PROJECT + (
        "[dependency-groups]\ntest = ['pytest-mock', {include-group = 'lint'}]\n"
        "lint = ['ruff', {include-group = 'test'}]\n"
    )
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [["."], ["pytest-mock", "ruff"]]
    assert any("include each other" in n for n in facts.notes)


def test_setup_cfg_extras_and_tests_require(make_repo, tmp_path: Path) -> None:
    setup_cfg = (
        "[metadata]\nname = pkg\n\n[options]\npackages = find:\ninstall_requires =\n    attrs\n"
        "tests_require =\n    pytest-timeout\n    freezegun>=1\n\n"
        "[options.extras_require]\ntesting =\n    mock\ndocs = sphinx\n"
    )
    facts = explored(make_repo, tmp_path, {"setup.cfg": setup_cfg, "setup.py": SETUP_PY})
    assert installed(facts) == [[".[testing]"], ["pytest-timeout", "freezegun>=1"]]
    assert {"attrs", "mock", "sphinx"} <= set(facts.requirements)


SETUP_PY_VARIABLES = '''\
from setuptools import setup

tests_require = ["pytest-asyncio", "trustme"]
EXTRAS_REQUIRE = {
    "tests": tests_require + ["iniconfig"],
    "docs": ["sphinx"],
}
EXTRAS_REQUIRE["all"] = sorted(set(sum(EXTRAS_REQUIRE.values(), [])))
meta = dict(name="pkg", extras_require=EXTRAS_REQUIRE, tests_require=tests_require)

if __name__ == "__main__":
    setup(**meta)
'''


def test_setup_py_extras_in_a_variable(make_repo, tmp_path: Path) -> None:
    facts = explored(make_repo, tmp_path, {"setup.py": SETUP_PY_VARIABLES})
    assert installed(facts) == [[".[tests]"], ["pytest-asyncio", "trustme"]]
    assert "iniconfig" in facts.requirements
    assert any("computed at run time" in n for n in facts.notes)  # the "all" extra


@pytest.mark.parametrize(
    ("source", "extras"),
    [
        ("setup(extras_require=dict(testing=['a'], **{'dev': ['b']}))", {"testing": ["a"], "dev": ["b"]}),
        ("E = {'test': ['a']}\nE.update(x=[])\nsetup(extras_require={**E, 'tests': E['test']})",
         {"test": ["a"], "tests": []}),
        ("import setuptools\nBASE = ('a',)\nsetuptools.setup(extras_require={'test': list(BASE) + ['b']})",
         {"test": ["a", "b"]}),
        ("setup(extras_require=load_extras())", {}),
        ("def f(:\n", {}),
    ],
    ids=["dict-call", "spread", "attribute-setup", "dynamic", "syntax-error"],
)
def test_setup_py_shapes_and_graceful_give_up(source: str, extras: dict) -> None:
    assert read_setup_py(source).extras == extras


def test_setup_py_is_never_executed(make_repo, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    setup_py = f"open({str(marker)!r}, 'w').write('x')\nraise SystemExit(1)\nfrom setuptools import setup\n" \
               "setup(extras_require={'test': ['pytest-xdist']})\n"
    facts = explored(make_repo, tmp_path, {"setup.py": setup_py})
    assert not marker.exists()
    assert installed(facts) == [[".[test]"]]


def test_requirement_files_follow_includes_inside_the_repo(make_repo, tmp_path: Path) -> None:
    files = {
        "setup.py": SETUP_PY,
        "requirements/base.txt": "attrs==23.1 \\\n    --hash=sha256:abc\n",
        "requirements/test.in": "-r base.txt\npytest-mock\n",
        "requirements/test.txt": "-r base.txt\npytest-mock==3.12  # via -r test.in\n",
        "test-requirements.txt": "--index-url https://evil.example/simple\nresponses\n-e .[tests]\n",
        "requirements/test-extra.in": "-c ../constraints.txt\ntyping-extensions\n./vendored/thing\n",
        "requirements/dev.txt": "pre-commit\n",  # test files exist: a dev file adds tooling only
        "constraints.txt": "typing-extensions<5\n",
        "requirements-docs.txt": "sphinx\n",
    }
    facts = explored(make_repo, tmp_path, files)
    assert installed(facts) == [
        [".[tests]", "-c", "constraints.txt"],
        ["typing-extensions", "-c", "constraints.txt"],
        ["attrs==23.1", "pytest-mock==3.12", "-c", "constraints.txt"],
        ["responses", "-c", "constraints.txt"],
    ]
    read = {"requirements/base.txt", "requirements/test.txt", "test-requirements.txt", "requirements/test-extra.in",
            "constraints.txt"}
    assert read <= set(facts.dependency_files)
    assert "pytest-mock" not in sum(installed(facts), [])  # pip-tools: the compiled .txt wins over the .in
    assert "pre-commit" not in sum(installed(facts), [])
    assert any("index-url" in n for n in facts.notes)
    assert "sphinx" in facts.requirements


@pytest.mark.parametrize("include", ["-r ../../etc/passwd", "-r/etc/passwd", "--requirement=../x.txt",
                                     "-r https://evil.example/r.txt", "-r ~/.netrc"])
def test_requirement_include_outside_the_repo_is_refused(make_repo, tmp_path: Path, include: str) -> None:
    files = {"setup.py": SETUP_PY, "requirements/test.txt": f"{include}\nflaky\n"}
    facts = explored(make_repo, tmp_path, files)
    assert installed(facts) == [["."], ["flaky"]]
    assert any("refused include" in n for n in facts.notes)
    assert all(p == "setup.py" or not p.startswith(("/", "..")) for p in facts.dependency_files)


def test_invalid_and_hostile_requirements_are_dropped(make_repo, tmp_path: Path) -> None:
    files = {
        "setup.py": SETUP_PY,
        "requirements-test.txt": "pytest>=7; python_version>'3.8'\nfoo; rm -rf /\n$(touch pwned)\n"
                                 "bar`id`\nok-pkg[x]>=1\n",
    }
    facts = explored(make_repo, tmp_path, files)
    assert installed(facts) == [["."], ['pytest>=7; python_version > "3.8"', "ok-pkg[x]>=1"]]
    assert sum("dropped invalid requirement" in n or "ignored path" in n for n in facts.notes) == 3
    for words in installed(facts)[1:]:
        for word in words:
            Requirement(word)  # everything that reaches the shell is one quoted, valid requirement


def test_tox_deps_with_includes_references_and_markers(make_repo, tmp_path: Path) -> None:
    tox = (
        "[tox]\nenvlist = py311\n\n[base]\ndeps =\n    coverage\n\n[testenv]\nextras = testing\n"
        "deps =\n    {[base]deps}\n    -r{toxinidir}/requirements/ci.txt\n    pytest>=7; python_version>\"3.8\"\n"
        "    py38: oldthing\n    django{32,42}\ncommands = pytest\n"
    )
    files = {"setup.py": SETUP_PY, "tox.ini": tox, "requirements/ci.txt": "pytest-randomly\n"}
    facts = explored(make_repo, tmp_path, files)
    assert installed(facts) == [[".[testing]"], ["coverage", "pytest-randomly", 'pytest>=7; python_version > "3.8"']]
    assert {"tox.ini", "requirements/ci.txt"} <= set(facts.dependency_files)


def test_tox_deps_naming_a_docs_extra_and_an_unquoted_marker_are_honoured(make_repo, tmp_path: Path) -> None:
    """jd/tenacity's tox.ini (2021): its tests import tornado, which only the ``doc`` extra declares, and
    ``typeguard;python_version>='3.0'`` reached tox with the quote stripped by the ini file's author."""
    tox = "[testenv]\ndeps =\n    .[doc]\n    pytest\n    typeguard;python_version>=3.0\n"
    cfg = "[metadata]\nname = tenacity\n\n[options.extras_require]\ndoc =\n    reno\n    sphinx\n    tornado>=4.5\n"
    facts = explored(make_repo, tmp_path, {"setup.py": SETUP_PY, "setup.cfg": cfg, "tox.ini": tox})
    assert installed(facts) == [[".[doc]"], ["pytest", "typeguard; python_version >= \"3.0\""]]


def test_bare_urls_a_test_configuration_installs_are_named_unreachable(make_repo, tmp_path: Path) -> None:
    tox = ("[testenv]\ndeps =\n    -r requirements/tests.txt\n\n"
           "    https://github.com/pallets/werkzeug/archive/master.tar.gz\n    examples/tutorial[test]\n")
    files = {"setup.py": SETUP_PY, "tox.ini": tox, "requirements/tests.txt": "pytest\n"}
    facts = explored(make_repo, tmp_path, files)
    assert facts.unreachable == ["https://github.com/pallets/werkzeug/archive/master.tar.gz"]
    assert "examples/tutorial[test]" not in str(facts.unreachable)  # a path: the repository's own, no URL
    repo = make_repo("submodules")  # python-poetry/tomlkit: its tests read a submodule a mirror does not hold
    repo.commit("init", {"setup.py": SETUP_PY, ".gitmodules": '[submodule "tests/toml-test"]\n\tpath = tests/toml-test'
                                                             '\n\turl = https://github.com/BurntSushi/toml-test.git\n'})
    snapshot = Snapshot(open_mirror(str(repo.root), tmp_path / "sub-mirrors"), repo.text("rev-parse", "HEAD"))
    assert explore(snapshot).unreachable == [
        "git submodule tests/toml-test (https://github.com/BurntSushi/toml-test.git)"]


def test_a_requirement_that_follows_a_branch_is_installed_as_released(make_repo, tmp_path: Path) -> None:
    """pallets/flask-e37e871's requirements pin ``jinja2 @ …/archive/refs/heads/main.tar.gz``: it changes every
    day (and GitHub is out of reach here), so the env build failed. The project as released by the cut-off
    stands in, and the suite is known not to be the one it was written for; a tag or sha pin is kept."""
    tests = ("jinja2 @ https://github.com/pallets/jinja/archive/refs/heads/main.tar.gz\n"
             "click @ git+https://github.com/pallets/click@master ; python_version >= '3.7'\n"
             "b @ git+https://github.com/a/b@v1.2\n")
    facts = explored(make_repo, tmp_path, {"setup.py": SETUP_PY, "requirements/tests.txt": tests})
    assert installed(facts) == [["."], ["jinja2", 'click; python_version >= "3.7"', "b @ git+https://github.com/a/b@v1.2"]]
    assert [u.split(" @ ")[0] for u in facts.unreachable] == ["jinja2", "click"]


def test_projects_inside_the_repository_a_test_configuration_installs(make_repo, tmp_path: Path) -> None:
    """pallets/flask's tox installs ``examples/tutorial[test]``, whose conftest imports ``flaskr``: such a path
    becomes a local project the instance image installs (never a requirement for the shared env image);
    a path that leaves the repository, is missing or holds no project is no local project."""
    tox = ("[testenv]\ndeps =\n    -r requirements/tests.txt\n    examples/tutorial[test]\n"
           "    -e ./plugins/extra/\n    examples/empty\n    examples/missing[test]\n    ../outside\n"
           "    examples/tutorial[test,$(id)]\n")
    files = {"setup.py": SETUP_PY, "tox.ini": tox, "requirements/tests.txt": "pytest\nfile:docs/theme\n",
             "examples/tutorial/setup.py": SETUP_PY, "examples/empty/README": "",
             "plugins/extra/pyproject.toml": PROJECT, "docs/theme/setup.cfg": "[metadata]\nname = t\n",
             "../outside/setup.py": SETUP_PY}
    facts = explored(make_repo, tmp_path, {k: v for k, v in files.items() if not k.startswith("..")})
    assert facts.local_projects == ["docs/theme", "examples/tutorial[test]", "plugins/extra"]
    assert facts.recipe().local_projects == facts.local_projects
    assert installed(facts) == [["."]]  # nothing of them reaches the env image (pytest: its own last step)
    assert not facts.unreachable


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../x", "x[test];rm", "x y", "-e x", "x[$(id)]"])
def test_a_recipe_refuses_a_local_project_outside_the_repository(path: str) -> None:
    with pytest.raises(ValueError, match="local project"):
        Recipe(python_version="3.11", install_commands=[], local_projects=[path])


def test_test_requirements_the_fix_adds_are_installed_too(make_repo, tmp_path: Path) -> None:
    """psf/requests-e253eba adds ``trustme`` to requirements-dev.txt and a conftest that imports it; built from
    the base's files alone every test errored (``build_failed(env_broken)``). A new project is installed (an
    install that fails leaves the base's env standing); a changed pin of a project the base names is not."""
    repo = make_repo()
    repo.commit("base", {"setup.py": SETUP_PY, "requirements-dev.txt": "pytest>=6\nsix\n"})
    base = repo.text("rev-parse", "HEAD")
    repo.commit("fix", {"requirements-dev.txt": "pytest>=7\nsix\ntrustme\n", "src/pkg/__init__.py": "x = 1\n"})
    mirror = open_mirror(str(repo.root), tmp_path / "mirrors")
    facts = explore(Snapshot(mirror, base), fixed=Snapshot(mirror, repo.text("rev-parse", "HEAD")))
    (command,) = [c for c in facts.install_commands if "trustme" in c]
    assert shlex.split(command.split(" || ")[0])[4:] == ["trustme"] and " || echo " in command
    assert "the fix adds test requirement(s): trustme" in facts.notes
    assert not any("pytest>=7" in c for c in facts.install_commands)
    alone = explore(Snapshot(mirror, base))
    assert not any("trustme" in c for c in alone.install_commands)
    same = explore(Snapshot(mirror, base), fixed=Snapshot(mirror, base))
    assert same.install_commands == alone.install_commands and same.fingerprint() == alone.fingerprint()


def test_noxfile_installs_of_test_sessions(make_repo, tmp_path: Path) -> None:
    noxfile = (
        "import nox\n\nTEST_DEPS = ['pytest-cov', 'pytest-xdist']\n\n"
        "@nox.session(python=['3.11'])\ndef tests(session):\n"
        "    session.install('-r', 'requirements-nox.txt')\n    session.install('.[test]', *TEST_DEPS)\n"
        "    session.run('pytest')\n\n@nox.session\ndef lint(session):\n    session.install('ruff')\n"
    )
    files = {"setup.py": SETUP_PY, "noxfile.py": noxfile, "requirements-nox.txt": "sybil\n"}
    facts = explored(make_repo, tmp_path, files)
    assert installed(facts) == [[".[test]"], ["sybil", "pytest-cov", "pytest-xdist"]]
    assert {"noxfile.py", "requirements-nox.txt"} <= set(facts.dependency_files)


def test_pipfile_dev_packages(make_repo, tmp_path: Path) -> None:
    pipfile = (
        "[packages]\nrequests = '*'\n\n[dev-packages]\npytest-django = '>=4'\nfreezegun = '*'\n"
        "mypkg = {path = '.', editable = true}\nresponses = {version = '==0.23', extras = ['x']}\n"
    )
    facts = explored(make_repo, tmp_path, {"setup.py": SETUP_PY, "Pipfile": pipfile})
    assert installed(facts) == [["."], ["pytest-django>=4", "freezegun", "responses[x]==0.23"]]
    assert "requests" in facts.requirements
    assert "Pipfile" in facts.dependency_files


def test_hatch_default_and_test_envs(make_repo, tmp_path: Path) -> None:
    pyproject = PROJECT + (
        "[project.optional-dependencies]\ncli = ['click']\n\n"
        "[tool.hatch.envs.default]\ndependencies = ['pytest-cov']\n\n"
        "[tool.hatch.envs.test]\nfeatures = ['cli']\nextra-dependencies = ['syrupy']\n\n"
        "[tool.hatch.envs.docs]\ndependencies = ['mkdocs']\n"
    )
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [[".[cli]"], ["pytest-cov"], ["syrupy"]]


def test_pdm_dev_dependencies(make_repo, tmp_path: Path) -> None:
    pyproject = PROJECT + (
        "[tool.pdm.dev-dependencies]\ntest = ['pytest-httpx>=0.2', '-e file:///${PROJECT_ROOT}/#egg=pkg']\n"
        "doc = ['mkdocs']\n"
    )
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [["."], ["pytest-httpx>=0.2"]]


def test_poetry_groups_and_dev_dependencies(make_repo, tmp_path: Path) -> None:
    pyproject = (
        '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n\n'
        '[tool.poetry]\nname = "pkg"\nversion = "0.1"\n\n[tool.poetry.dependencies]\npython = "^3.8"\n\n'
        '[tool.poetry.dev-dependencies]\nblack = "22.3.0"\n\n'
        '[tool.poetry.group.test.dependencies]\npytest-mock = "^3.10"\nhypothesis = {version = "~6.1", '
        'extras = ["numpy"]}\nweird = "1.0 || 2.0"\nlocal = {path = "../local"}\n\n'
        '[tool.poetry.group.docs.dependencies]\nsphinx = "*"\n'
    )
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [
        ["."], ["black==22.3.0"], ["pytest-mock<4.0,>=3.10", "hypothesis[numpy]<6.2,>=6.1", "weird"],
    ]
    assert any("weird" in n for n in facts.notes)


@pytest.mark.parametrize(
    ("poetry", "pep"),
    [("^1.2.3", ">=1.2.3,<2.0.0"), ("^0.2.3", ">=0.2.3,<0.3.0"), ("^0.0.3", ">=0.0.3,<0.0.4"), ("^1", ">=1,<2"),
     ("~1.2.3", ">=1.2.3,<1.3.0"), ("~1", ">=1,<2"), ("~=1.2", "~=1.2"), ("1.2.*", "==1.2.*"), ("*", ""),
     (">= 1.2, < 1.5", ">=1.2,<1.5"), ("1.0 || 2.0", None), ("^x", None)],
)
def test_poetry_version_syntax_to_pep440(poetry: str, pep: str | None) -> None:
    assert pep440(poetry) == pep


def test_vcs_requirement_with_egg_becomes_a_direct_reference(make_repo, tmp_path: Path) -> None:
    files = {"setup.py": SETUP_PY,
             "requirements-dev.txt": "-e git+https://github.com/a/b.git@v1#egg=b-pkg\nhttps://x.example/y.tar.gz\n"}
    facts = explored(make_repo, tmp_path, files)
    assert installed(facts) == [["."], ["b-pkg @ git+https://github.com/a/b.git@v1#egg=b-pkg"]]


@pytest.mark.parametrize(
    "pyproject",
    [
        PROJECT + "optional-dependencies = ['x']\n",
        "dependency-groups = 3\n" + PROJECT,
        BUILD + "[tool]\nhatch = 'x'\npoetry = {group = ['a']}\npdm = {dev-dependencies = 'x'}\n",
        BUILD + "[dependency-groups]\ntest = 'pytest'\ndev = [{include-group = 'missing'}, 7]\n",
    ],
    ids=["extras-list", "groups-int", "tools-strings", "group-shapes"],
)
def test_malformed_metadata_reads_as_empty(make_repo, tmp_path: Path, pyproject: str) -> None:
    facts = explored(make_repo, tmp_path, {"pyproject.toml": pyproject})
    assert installed(facts) == [["."]]
