"""``factory clean``, ``factory doctor`` and the image budget on the real engine (tests/faults_cleanup.py):
only our labelled objects go, only when really left over, and a build's budget only evicts its project's
least recently used images."""

from __future__ import annotations

import contextlib

import docker
import pytest

from tests.faults import FaultRow, table
from tests.faults_cleanup import BASE, cleanup_rows, image_exists, make_image


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> dict[str, FaultRow]:
    found = cleanup_rows(tmp_path_factory.mktemp("faults-cleanup"), factory_cmd)
    print("\n" + table(found))
    return {r.scenario.split(":")[1].split("(")[0].strip(): r for r in found}


@pytest.mark.parametrize("name", ["factory doctor on a leaked container",
                                  "factory clean --older-than 0s --repo cleantest/x",
                                  "factory build --max-image-gb"])
def test_cleanup_row_holds(rows: dict[str, FaultRow], name: str) -> None:
    row = rows[name]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r} ({row.detail})"


def test_clean_rejects_a_bad_duration(run_factory):
    done = run_factory("clean", "--older-than", "soon")
    assert done.returncode == 2 and "30m, 12h, 7d" in done.stderr and "Traceback" not in done.output


def test_an_image_budget_evicts_the_least_recently_used_images(docker_client, run_factory, tmp_path):
    tags = [f"issue-factory/env.budgettest__x:{n}" for n in (1, 2, 3)]
    try:
        for tag in tags:  # created one after the other: 1 is the least recently used
            make_image(docker_client, tag, True)
        sizes = [docker_client.images.get(t).attrs["Size"] for t in tags]
        budget_gb = (sizes[1] + sizes[2]) / 1e9 + 0.001
        done = run_factory("clean", "--repo", "budgettest/x", "--max-image-gb", f"{budget_gb:.6f}",
                           "--db", str(tmp_path / "none.duckdb"))
        assert done.returncode == 0, done.output
        assert [image_exists(docker_client, t) for t in tags] == [False, True, True]
        assert image_exists(docker_client, BASE)
    finally:
        for tag in tags:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(tag, force=True)
