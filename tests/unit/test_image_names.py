"""Image names registries accept: every name ``factory.docker.names`` makes keeps to the strict OCI grammar
(no ``__``, no ``--``, lowercase), stays within Docker's length limit, and names one repository only."""

from __future__ import annotations

import re

import pytest

from agents.builder.environment_manager import plan_instance
from factory.docker.names import COMPONENT, image_name, legacy_slug, registry_safe, repo_slug

STRICT = re.compile(r"[a-z0-9]+(?:(?:\.|_|-)[a-z0-9]+)*")
HOSTILE = [
    "psf/requests", "Psf/Requests", "owner/my.repo", "owner/My__Lib", "a_b/c", "a/b_c", "owner/--x--",
    "owner/...", "owner/_private", "UPPER/CASE.Name-", "o/" + "Long_Name." * 40, "weird owner/ünïcødé repo",
    "owner/a__b", "owner/a_1776_b", "local-repo", "/", "x/y/z", "owner/a..b", "owner/a-_-b",
]


@pytest.mark.parametrize("repo", HOSTILE)
def test_every_name_keeps_to_the_strict_grammar(repo: str) -> None:
    for kind in ("env", "instance"):
        name = image_name(kind, repo)
        components = name.split("/")
        assert components[0] == "issue-factory" and len(components) == 2
        assert all(STRICT.fullmatch(c) for c in components), name
        assert "__" not in name and "--" not in name and name == name.lower()
        assert len(name) + len(":") + 20 <= 255 - len("registry.example.com:5000/")
        assert registry_safe(f"{name}:0123456789abcdef0123")


def test_plain_names_read_like_swebench_and_stay_stable() -> None:
    assert image_name("instance", "psf/requests") == "issue-factory/instance.psf_1776_requests"
    assert image_name("env", "owner/my.repo") == "issue-factory/env.owner_1776_my.repo"
    assert repo_slug("Psf/Requests") == repo_slug("psf/requests")  # GitHub names ignore case, so do images
    assert image_name("env", "a/b") == image_name("env", "a/b")


def test_names_that_had_to_change_do_not_collide() -> None:
    slugs = [repo_slug(r) for r in ("a_b/c", "a/b_c", "owner/a__b", "owner/a_b", "owner/a-_-b", "owner/a-b",
                                    "owner/a_1776_b", "owner_1776_a/b")]
    assert len(set(slugs)) == len(slugs), slugs
    long_a, long_b = repo_slug("o/" + "x" * 300 + "a"), repo_slug("o/" + "x" * 300 + "b")
    assert long_a != long_b and max(len(long_a), len(long_b)) <= 120


def test_old_names_are_not_registry_safe_and_new_plans_are() -> None:
    assert not registry_safe("issue-factory/instance.psf__requests:a798263e55aefaf67e1e")
    assert legacy_slug("psf/requests") == "psf__requests"
    assert COMPONENT.fullmatch(image_name("instance", "psf/requests").split("/")[1])
    with pytest.raises(ValueError):
        image_name("Bad Kind", "a/b")


def test_instance_plan_uses_the_safe_name() -> None:
    from datetime import UTC, datetime

    from factory.core.models import Candidate
    from factory.core.recipe import Recipe

    cand = Candidate(instance_id="Acme__My__Lib-1", repo="Acme/My__Lib", base_commit="a" * 40, fix_commit="b" * 40,
                     patch="", test_patch="", problem_statement="", source="git",
                     created_at=datetime(2024, 1, 1, tzinfo=UTC))
    recipe = Recipe(python_version="3.11", install_commands=["pip install -e ."])
    plan = plan_instance(cand, recipe, "issue-factory/env.x:1")
    assert registry_safe(plan.image_tag) and plan.image_tag.startswith("issue-factory/instance.acme_1776_my-lib-")
