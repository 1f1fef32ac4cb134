"""The eviction order of an image budget (factory.docker.cleanup): least recently used first, children first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factory.docker.cleanup import OurImage, _eviction_order

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def image(tag: str, kind: str, minutes: int, env: str = "") -> OurImage:
    return OurImage(id=f"sha256:{tag}", tags=[tag], size=1, kind=kind, last_used=T0 + timedelta(minutes=minutes),
                    env=env)


def test_an_env_image_counts_as_used_when_its_instances_were() -> None:
    env_a = image("env.a:1", "env", 0)                   # built first, used through its instances
    inst_a1 = image("instance.a:1", "instance", 50, env="env.a:1")
    inst_a2 = image("instance.a:2", "instance", 10, env="env.a:1")
    env_b = image("env.b:1", "env", 20)                  # no instance image left
    order = [i.tags[0] for i in _eviction_order([env_a, inst_a1, inst_a2, env_b])]
    assert order == ["instance.a:2", "env.b:1", "instance.a:1", "env.a:1"]


def test_ties_put_instance_images_before_env_images() -> None:
    env = image("env.a:1", "env", 5)
    inst = image("instance.a:1", "instance", 5, env="env.a:1")
    assert [i.kind for i in _eviction_order([env, inst])] == ["instance", "env"]


def test_instances_without_the_env_label_fall_back_to_their_own_times() -> None:
    old = image("instance.x:1", "instance", 1)
    env = image("env.x:1", "env", 0)
    assert [i.tags[0] for i in _eviction_order([old, env])] == ["env.x:1", "instance.x:1"]
