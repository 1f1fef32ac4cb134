"""The Prefect deployments: prefect.yaml and flows.deployments.runner_deployments stay in step."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.types.entrypoint import EntrypointType

from factory.core.errors import UserError
from factory.core.project import Project, Schedules
from factory.core.resolve import load
from flows.deployments import DEPLOYMENTS, runner_deployments

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = [spec.stage for spec in DEPLOYMENTS]
#: Nothing listens here: a deployment that tried to reach a Prefect API would fail loudly.
NO_SERVER = "http://127.0.0.1:9/api"


@pytest.fixture(scope="module")
def prefect_yaml() -> dict:
    return yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))


def _by_entrypoint(doc: dict) -> dict[str, dict]:
    return {d["entrypoint"]: d for d in doc["deployments"]}


def test_stages_are_distinct_and_match_schedules() -> None:
    assert len(set(STAGES)) == len(STAGES) == 5
    assert set(STAGES) == set(Schedules().crons())


def test_yaml_declares_one_deployment_per_spec(prefect_yaml: dict) -> None:
    entrypoints = [d["entrypoint"] for d in prefect_yaml["deployments"]]
    assert len(entrypoints) == len(set(entrypoints)) == len(DEPLOYMENTS)
    assert entrypoints == [spec.entrypoint for spec in DEPLOYMENTS]


@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda s: s.stage)
def test_yaml_entrypoint_is_the_stage_flow(spec, prefect_yaml: dict) -> None:
    deployment = _by_entrypoint(prefect_yaml)[spec.entrypoint]
    file, func = deployment["entrypoint"].split(":")
    assert (REPO_ROOT / file).is_file()
    flow = getattr(import_module(file.removesuffix(".py").replace("/", ".")), func)
    assert isinstance(flow, Flow)
    assert flow.name == spec.stage
    assert spec.flow() is flow


@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda s: s.stage)
def test_yaml_deployment_settings(spec, prefect_yaml: dict) -> None:
    deployment = _by_entrypoint(prefect_yaml)[spec.entrypoint]
    assert deployment["name"] == Project().name
    assert deployment["description"] == spec.description
    assert deployment["tags"] == ["issue-factory", spec.stage]
    assert deployment["parameters"] == {"config": "factory.toml"}
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert deployment["concurrency_limit"]["collision_strategy"] in ConcurrencyLimitStrategy.__members__
    cron = Schedules().crons()[spec.stage]
    if cron is None:
        assert deployment["schedules"] == []
    else:
        assert deployment["schedules"] == [{"cron": cron, "timezone": "UTC"}]


def test_yaml_parameters_name_real_flow_parameters(prefect_yaml: dict) -> None:
    for spec in DEPLOYMENTS:
        params = _by_entrypoint(prefect_yaml)[spec.entrypoint]["parameters"]
        assert set(params) <= set(spec.flow().parameters.properties), spec.stage


# ---- runner_deployments ------------------------------------------------------------------------------

CUSTOM = """
name = "shard-a"

[schedules]
mine = "5 1 * * *"
build = "*/10 * * * *"
validate = "20 * * * *"
export = "0 7 * * 1"
timezone = "Europe/Berlin"
"""


def _deployments(project: Project) -> dict:
    with temporary_settings(updates={PREFECT_API_URL: NO_SERVER}):
        built = runner_deployments(project)
    assert [d.flow_name for d in built] == STAGES
    return {d.flow_name: d for d in built}


def test_runner_deployments_follow_the_project_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "factory.toml"
    path.parent.mkdir()
    path.write_text(CUSTOM, encoding="utf-8")
    project = load(path)
    deployments = _deployments(project)
    crons = project.schedules.crons()
    for spec in DEPLOYMENTS:
        d = deployments[spec.stage]
        assert d.name == "shard-a"
        assert d.parameters == {"config": str(path)}
        assert Path(d.parameters["config"]).is_absolute()
        module, func = spec.entrypoint.split(":")
        assert d.entrypoint == f"{module.removesuffix('.py').replace('/', '.')}.{func}"
        assert d.entrypoint_type == EntrypointType.MODULE_PATH
        assert d.description == spec.description
        assert d.tags == ["issue-factory", spec.stage]
        assert d.concurrency_limit == 1
        assert d.concurrency_options is not None
        assert d.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
        if spec.stage == "pipeline":
            assert d.schedules in (None, [])
            continue
        assert len(d.schedules) == 1
        schedule = d.schedules[0].schedule
        assert (schedule.cron, schedule.timezone) == (crons[spec.stage], "Europe/Berlin")
        assert d.schedules[0].active
    assert deployments["build"].entrypoint == "flows.build.build_flow"
    assert deployments["build"].schedules[0].schedule.cron == "*/10 * * * *"


def test_pipeline_is_scheduled_when_the_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "factory.toml"
    path.write_text('[schedules]\npipeline = "0 3 * * 0"\n', encoding="utf-8")
    deployments = _deployments(load(path))
    pipeline = deployments["pipeline"].schedules
    assert [(s.schedule.cron, s.schedule.timezone) for s in pipeline] == [("0 3 * * 0", "UTC")]
    assert deployments["pipeline"].name == "issue-factory"
    assert deployments["mine"].schedules[0].schedule.cron == Schedules().mine


def test_runner_deployments_need_a_project_file() -> None:
    with pytest.raises(UserError) as info:
        runner_deployments(Project())
    assert "factory.toml" in info.value.what
    assert "--config" in info.value.fix
