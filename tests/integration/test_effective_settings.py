"""What ``--help`` promises is what a run uses: every default ``factory build --help`` and ``factory --help``
print is the value the build command hands its flow (``--show-config``) and the value a deployment's flow
run, given only the project file, resolves by itself — with the project file and the environment both
changing defaults (defaults < factory.toml < env < flags)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from factory.cli.build import BUILD_FLAG_NAMES
from factory.cli.common import shown
from tests.integration.conftest import cli_env

PROJECT = """\
db = "data/project.duckdb"
[build]
workers = 3
runs_after = 4
memory = false
retry_delay = 1
[[sources]]
example = "tinyledger"
"""
ENV = {"FACTORY_CPUS": "0.5", "FACTORY_RUN_TIMEOUT": "77", "FACTORY_MEM_LIMIT": "768m", "COLUMNS": "400"}


def _help_defaults(text: str) -> dict[str, str]:
    """``{"--workers": "3", ...}`` from a rich help screen (each option on one line at 400 columns)."""
    found = {}
    for line in text.splitlines():
        match = re.search(r"│\s*(--[a-z][a-z-]*)\b.*\(default: (.+?)(?:, from [^)]*)?\)\s*│", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _flag(key: str) -> str:
    return BUILD_FLAG_NAMES.get(key, "--" + key.rpartition(".")[2].replace("_", "-"))


def test_help_defaults_are_the_values_a_run_uses(tmp_path: Path, factory_cmd: list[str]) -> None:
    (tmp_path / "factory.toml").write_text(PROJECT)
    env = cli_env(**ENV)

    def run(*args: str) -> str:
        proc = subprocess.run([*factory_cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    helped = _help_defaults(run("build", "--help"))
    used = {row["key"]: row for row in json.loads(run("build", "--show-config", "--json"))["settings"]}
    build_keys = [k for k in used if k.startswith("build.") and _flag(k) in helped]
    assert len(build_keys) >= 15, sorted(helped)  # every build setting with a flag is checked
    for key in build_keys:
        assert helped[_flag(key)] == shown(used[key]["value"]), key
    # the file and the environment really moved defaults, and the origin says which did
    assert (helped["--workers"], helped["--runs-after"], helped["--memory"]) == ("3", "4", "off")
    assert (helped["--cpus"], helped["--timeout"], helped["--mem-limit"]) == ("0.5", "77", "768m")
    assert used["build.workers"]["origin"] == "factory.toml" and used["build.cpus"]["origin"] == "env FACTORY_CPUS"
    assert used["build.pids_limit"]["origin"] == "default"
    db = tmp_path / "data" / "project.duckdb"
    assert used["db"]["value"] == str(db) and helped["--db"] == str(db)
    assert str(db) in run("--help").replace("\n", "")

    # a flag beats all of them, in the same resolution
    flagged = {row["key"]: row for row in json.loads(run("build", "--cpus", "2", "--show-config", "--json"))[
        "settings"]}
    assert (flagged["build.cpus"]["value"], flagged["build.cpus"]["origin"]) == (2.0, "flag --cpus")

    # a deployment's flow run gets only the project file's path: it resolves the same values itself
    code = ("import json, sys; from flows.build import build_flow; "
            "print(json.dumps(build_flow(config=sys.argv[1], db_lock_wait=0)['settings']))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "factory.toml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    flow_settings = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in build_keys:
        assert flow_settings[key.removeprefix("build.")] == used[key]["value"], key
    assert db.exists()  # the flow opened the store the help named
