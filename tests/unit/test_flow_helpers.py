"""Helpers shared by the Prefect flows (flows.common): retry delays and the infra-only retry rule."""

from __future__ import annotations

import pytest
from prefect.states import Completed, Failed

from factory.core.errors import UserError
from factory.core.models import Instance, Status
from flows.common import InfraFailure, backoff, retry_on_infra_only


def test_backoff_doubles() -> None:
    assert backoff(30, 3) == [30, 60, 120]
    assert backoff(0.5, 2) == [0.5, 1.0]


def test_backoff_without_retries() -> None:
    assert backoff(5, 0) == []


def _infra_failure() -> InfraFailure:
    inst = Instance(instance_id="acme__lib-1", status=Status.ERROR, reason="docker", detail="engine went away")
    return InfraFailure.of(inst)


def test_infra_failure_carries_the_instance() -> None:
    exc = _infra_failure()
    assert (exc.instance_id, exc.reason) == ("acme__lib-1", "docker")
    assert str(exc) == "acme__lib-1: error(docker) engine went away"


def test_retry_on_infra_failure() -> None:
    assert retry_on_infra_only(None, None, Failed(data=_infra_failure())) is True


@pytest.mark.parametrize(
    "state",
    [
        Failed(data=UserError("bad config", "fix it")),
        Failed(data=ValueError("a bug")),
        Failed(data=None),
        Completed(data="valid"),
        Failed(data=InfraFailure("acme__lib-1", "internal", "GitCommandError (traceback in x.log)")),
    ],
    ids=["user-error", "bug", "no-data", "completed", "internal-error"],
)
def test_no_retry_for_anything_else(state) -> None:
    assert retry_on_infra_only(None, None, state) is False
