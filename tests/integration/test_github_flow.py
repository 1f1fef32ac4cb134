"""A GitHub source in factory.toml, mined by the Prefect mine flow (``factory mine --config``), then built.

The GitHub side is the local server of tests/github_server.py; the flow runs against the session's
Prefect server; the candidate it stores is built and validated on the real Docker engine, which proves
the build stage finds a GitHub candidate's code through the clone URL recorded at mining time.
"""

from __future__ import annotations

from factory.core.models import Status
from factory.store import Store
from tests.github_fixtures import START, BuiltIssue, PRSpec, build_pr_repo
from tests.github_server import FakeGitHub, GitHubServer

PYPROJECT = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
             '[project]\nname = "pkg"\nversion = "1.0.0"\nrequires-python = ">=3.9"\n\n'
             '[project.optional-dependencies]\ntest = ["pytest>=7"]\n\n'
             '[tool.setuptools.packages.find]\nwhere = ["src"]\n')


def test_mine_flow_takes_a_github_source_and_its_candidate_builds(tmp_path, run_factory):
    fix = {
        "pyproject.toml": PYPROJECT,
        "src/pkg/core.py": '"""Core helpers."""\n\n\ndef identity(x):\n    return x\n\n\ndef double(x):\n'
                           "    return 2 * x\n",
        "tests/test_double.py": "from pkg.core import double\n\n\ndef test_double():\n    assert double(4) == 8\n",
    }
    built = build_pr_repo(tmp_path / "pkg.git", [
        PRSpec(number=2, title="Add double()", body="Fixes #1", commits=[fix]),
        PRSpec.code(4, title="Unrelated refactor"),
    ])
    built.issues.append(BuiltIssue(number=1, title="No way to double", body="double(4) should be 8.",
                                   created_at=START))
    fake = FakeGitHub()
    built.register(fake, "acme/pkg")
    config = tmp_path / "factory.toml"
    config.write_text('db = "f.duckdb"\nhome = "h"\n[[sources]]\ngithub = "acme/pkg"\n[build]\nworkers = 1\n')
    with GitHubServer(fake, require_token="tok-123") as server:
        env = {"GITHUB_API_URL": server.api_url, "GITHUB_TOKEN": "tok-123"}
        mined = run_factory("mine", "--config", str(config), env=env, timeout=300)
        assert mined.returncode == 0, mined.output
        assert all(r.authorized for r in server.requests)
    built_run = run_factory("build", "--config", str(config), timeout=900)
    assert built_run.returncode == 0, built_run.output
    with Store(tmp_path / "f.duckdb", read_only=True) as store:
        (cand,) = store.candidates("acme/pkg")
        inst = store.instance(cand.instance_id)
        assert store.source("github:acme/pkg")["location"] == str(built.path)
    assert cand.instance_id == "acme__pkg-2" and cand.issue_numbers == ["1"]
    assert (inst.status, inst.fail_to_pass) == (Status.VALID, ["tests/test_double.py::test_double"]), inst.detail
