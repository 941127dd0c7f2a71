"""Environments on the embedded default: the chain, challengers, promotion, rollback, deploys and their history."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.exceptions import MlflowException

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.cli.deploy import deploy_command, set_environment_configs_command
from {{ cookiecutter.app_name }}.cli.environments import history_command, status_command
from {{ cookiecutter.app_name }}.config import ConfigError, EnvironmentConfig, load_environment_config, read_yaml
from {{ cookiecutter.app_name }}.datastore import DataStoreError, open_datastore
from {{ cookiecutter.app_name }}.environments import (
    ChallengerError,
    DeploymentError,
    approve,
    create_challenger,
    delete_environment,
    deploy,
    deploy_checkout,
    environments,
    promote,
    rollback,
)
from {{ cookiecutter.app_name }}.environments import component_file as components
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import Deployment, ModelRegistry, RegistryError, open_registry

from .conftest import started_now
from .support.data import APP_ROOT, a_small_model, data_rows, table_schema

pytestmark = pytest.mark.unit


def deploy_app(settings, environment: str, version: str, monkeypatch) -> None:
    """Record that `environment` runs app `version`, as `python -m <app> deploy` from a build of that version."""
    monkeypatch.setenv("APP_VERSION", version)
    deploy_checkout(started_now(settings), open_registry(settings), environment)


def trained_environment(settings, environment: str) -> None:
    """`environment` holding 600 rows of the first load and serving a model (v1) trained on them."""
    store = open_datastore(settings, environment)
    store.create(table_schema())
    store.append(data_rows("dataset_1.csv", 600))
    report = retrain(settings=settings.for_environment(environment))
    if report.awaiting_approval:  # production promotes by hand
        approve(settings, open_registry(settings), environment, report.challenger_version)


@pytest.fixture
def production(own_root, monkeypatch):
    """Production serving v1, trained on its 600 rows, and running app version app-1."""
    trained_environment(own_root, "production")
    deploy_app(own_root, "production", "app-1", monkeypatch)
    return own_root


@pytest.fixture
def integration(own_root, monkeypatch):
    """Integration serving v1, trained on its 600 rows, and running app version app-1; nothing in uat or production."""
    trained_environment(own_root, "integration")
    deploy_app(own_root, "integration", "app-1", monkeypatch)
    return own_root


def test_the_chain_comes_from_app_config_and_challengers_promote_to_their_source(production):
    create_challenger(production, "production_owen", "production")

    found = {info.name: info.promotes_to for info in environments(production, open_registry(production))}

    assert found == {"integration": "uat", "uat": "production", "production": None, "production_owen": "production"}


def test_a_challenger_copies_data_alias_and_config_and_retraining_it_leaves_the_source_alone(production):
    registry, source = open_registry(production), open_datastore(production, "production")
    served_before, rows_before = registry.champion_version("production"), source.count()

    made = create_challenger(production, "production_owen", "production")

    challenger = open_datastore(production, "production_owen")
    assert challenger.count() == rows_before and registry.champion_version("production_owen") == served_before
    config = yaml.safe_load((production.root / "config" / "environment_production_owen.yml").read_text())
    assert config["app_title_extension"] == " - (production_owen)"
    assert [line.split(":")[0] for line in made] == ["data", "model", "app", "config"]
    assert registry.deployment("production_owen") == registry.deployment("production")  # model, app and app config

    challenger.append(data_rows("dataset_2.csv", 300))
    report = retrain(settings=production.for_environment("production_owen"))

    # Whether the gate promotes depends on the data; either way the challenger's alias alone may have moved.
    assert report.environment == "production_owen" and report.challenger_version > served_before
    served_now = report.challenger_version if report.promoted else served_before
    assert registry.champion_version("production_owen") == served_now
    assert registry.champion_version("production") == served_before
    assert source.count() == rows_before


@pytest.mark.parametrize(
    "content, reason",
    [
        ("colour: red\n", "environment_uat.yml: unknown key(s) ['colour']; known keys are ['app_title_extension'"),
        ("replicas: 0\n", "environment_uat.yml: replicas must be a whole number >= 1, not 0"),
        ("worker_replicas: two\n", "environment_uat.yml: worker_replicas must be a whole number >= 1, not 'two'"),
        ("log_level: verbose\n", "environment_uat.yml: log_level must be a number or a level name such as INFO"),
        ("app_title_extension:\n", "environment_uat.yml: app_title_extension must be text, not None"),
    ],
)
def test_an_environment_config_the_app_cannot_use_is_refused_naming_the_key(tmp_path, content, reason):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "environment_uat.yml").write_text(content)

    with pytest.raises(ConfigError) as raised:
        load_environment_config(tmp_path, "uat")

    assert reason in str(raised.value)
    assert load_environment_config(tmp_path, "production") == EnvironmentConfig()  # no file: the defaults


def test_a_challenger_that_fails_half_way_leaves_nothing_behind(production):
    (production.root / "config" / "environment_production.yml").write_text("colour1: [unclosed\n")

    with pytest.raises(ConfigError, match="environment_production.yml is not valid YAML"):
        create_challenger(production, "production_owen", "production")

    registry = open_registry(production)
    assert "production_owen" not in registry.challengers() and registry.champion_version("production_owen") is None
    assert not open_datastore(production, "production_owen").drop()  # there was no table left to drop
    assert not (production.root / "config" / "environment_production_owen.yml").exists()


@pytest.mark.parametrize(
    "name, source, message",
    [
        ("uat", "production", "'uat' already exists"),
        ("pr-7", "staging", "there is no environment 'staging' to copy"),
        ("Bad Name", "production", "must start with a lowercase letter"),
    ],
)
def test_a_challenger_that_cannot_be_made_is_refused_and_nothing_is_made(production, name, source, message):
    with pytest.raises((ChallengerError, ConfigError), match=message):
        create_challenger(production, name, source)

    assert open_registry(production).challengers() == {}


def test_only_challengers_can_be_deleted_and_deleting_removes_all_of_it(production):
    create_challenger(production, "pr-7", "production")

    with pytest.raises(ChallengerError, match="production is part of the promotion chain"):
        delete_environment(production, "production")
    removed = delete_environment(production, "pr-7")

    assert removed == ["data of pr-7", "model alias pr-7", "config/environment_pr-7.yml"]
    assert "pr-7" not in [info.name for info in environments(production, open_registry(production))]
    assert open_datastore(production, "production").count() == 600
    assert open_registry(production).champion_version("production") is not None


def run_command(settings, *args: str) -> subprocess.CompletedProcess:
    """`python args...` from the app folder, as a person runs it, on the test's config and state."""
    env = {**os.environ, "APP_ROOT": str(settings.root), "APP_STATE_DIR": str(settings.state_dir)}
    return subprocess.run([sys.executable, *args], cwd=APP_ROOT, env=env, capture_output=True, text=True)


def app_command(capsys, *argv: str) -> tuple[int, str, str]:
    """`python -m {{ cookiecutter.app_name }} argv...`, run in this process: exit code, stdout, stderr."""
    try:
        exit_code = main(list(argv))
    except SystemExit as parse_error:  # argparse refused the arguments (or printed --help)
        exit_code = parse_error.code
    printed = capsys.readouterr()
    return exit_code, printed.out, printed.err


def test_the_commands_create_list_select_and_delete_a_challenger(production, capsys):
    selection = Path(production.root) / ".selected_environment"
    created = run_command(production, "local/create_challenger.py", "production_owen", "production")
    listed = app_command(capsys, "env", "list")
    selected = app_command(capsys, "env", "select", "production_owen")

    assert created.returncode == 0, created.stderr
    assert "Created challenger [production_owen] of [production]:" in created.stdout
    assert f"data: {open_datastore(production, 'production_owen')} (600 rows)" in created.stdout
    assert listed[0] == 0, listed[2]
    owen = next(line for line in listed[1].splitlines() if "production_owen" in line)
    assert "challenger of production" in owen and "600 rows" in owen and "v1" in owen and "app-1" in owen
    assert selected[0] == 0 and selection.read_text() == "production_owen\n"

    refused = app_command(capsys, "env", "delete", "production")
    deleted = app_command(capsys, "env", "delete", "production_owen")

    assert refused[0] == 2 and "cannot be deleted" in refused[2]
    assert deleted[0] == 0 and "Deleted [production_owen]" in deleted[1]
    assert "commands now work on [integration]" in deleted[1] and not selection.exists()  # the selection went too


def test_promote_moves_exactly_the_model_the_app_version_and_its_app_config_to_the_next_environment(integration):
    registry = open_registry(integration)
    promoted, uat_config = registry.deployment("integration"), (integration.root / "config" / "environment_uat.yml")
    uat_config_before = uat_config.read_text()

    target, event = promote(integration, registry, "integration")

    assert target == "uat" and registry.deployment("uat") == promoted
    assert promoted == Deployment(1, "app-1", read_yaml(integration.root / "config" / "app_config.yml"))
    live = {
        name: components.as_mapping(integration, name, registry.deployment(name)) for name in ("integration", "uat")
    }
    assert live["uat"]["components"] == live["integration"]["components"]  # uat's component config is integration's
    assert registry.deployment("integration") == promoted and registry.deployment("production") == Deployment()
    assert uat_config.read_text() == uat_config_before  # environment config stays with its environment
    with pytest.raises(DataStoreError):  # and so does data: promotion copies none
        open_datastore(integration, "uat").count()
    assert [(e.action, e.source, e.before, e.after) for e in registry.events("uat")] == [
        ("promote", "integration", Deployment(), promoted)
    ]
    assert promote(integration, registry, "integration") == ("uat", None)  # again: nothing moves, nothing recorded
    assert len(registry.events("uat")) == 1


@pytest.mark.parametrize("failing_step", ["set_app", "record_event"])
def test_a_promotion_that_fails_half_way_moves_nothing(integration, monkeypatch, failing_step):
    registry = open_registry(integration)

    def unreachable(*args, **kwargs):
        raise MlflowException("API request to the registry failed: Connection refused")

    monkeypatch.setattr(registry, failing_step, unreachable)  # the registry goes away after the alias moved

    with pytest.raises(DeploymentError, match="Connection refused.*nothing moved: it still runs no model"):
        promote(integration, registry, "integration")

    assert open_registry(integration).deployment("uat") == Deployment()  # the alias was moved back
    assert open_registry(integration).events("uat") == []


def test_an_unreachable_registry_is_named_and_nothing_moves(integration, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nothing listens there

    exit_code = status_command([])

    assert exit_code == 2 and "the model registry at http://127.0.0.1:" in capsys.readouterr().err
    with pytest.raises(RegistryError, match="could not be read"):
        promote(integration, ModelRegistry(os.environ["MLFLOW_TRACKING_URI"], "", "x"), "integration")
    assert open_registry(integration).deployment("uat") == Deployment()


def register_another(registry: ModelRegistry) -> int:
    """A new version, registered as passing: a second model without training one."""
    return registry.register(*a_small_model(), tags={"passed": "true", "score": 0.9}, params={}, metrics={})


def test_rollback_restores_the_previous_version_and_is_in_the_history(integration):
    registry = open_registry(integration)
    promote(integration, registry, "integration")  # uat: v1, app-1
    first = registry.deployment("uat")
    v2 = register_another(registry)
    deploy(integration, registry, "integration", Deployment(v2, "app-2", {"app_title": "Second"}))
    promote(integration, registry, "integration")  # uat: v2, app-2
    second = registry.deployment("uat")

    event = rollback(integration, registry, "uat")

    assert registry.deployment("uat") == first and (event.before, event.after) == (second, first)
    assert [(e.action, e.after.model_version, e.after.app_version) for e in registry.events("uat")] == [
        ("rollback", 1, "app-1"),
        ("promote", v2, "app-2"),
        ("promote", 1, "app-1"),
    ]
    assert registry.deployment("integration").model_version == v2  # only uat moved
    rollback(integration, registry, "uat")  # rolling back the rollback
    assert registry.deployment("uat") == second
    rollback(integration, registry, "uat", to_version=1)
    assert registry.deployment("uat") == Deployment(1, "app-2", {"app_title": "Second"})  # the app stays
    with pytest.raises(DeploymentError, match="there is no model version v99; the versions are"):
        rollback(integration, registry, "uat", to_version=99)


def test_deploying_the_component_config_makes_an_environment_match_it_and_status_and_history_show_it(
    integration, capsys
):
    registry, path = open_registry(integration), integration.root / components.COMPONENT_CONFIG
    components.write(path, components.as_mapping(integration, "integration", registry.deployment("integration")))

    deployed = deploy_command(["--from-component-config", "--environment", "production", "--app-version", "img-7"])
    out = capsys.readouterr().out
    status_command([])
    status = capsys.readouterr().out
    history_command(["production"])
    history = capsys.readouterr().out

    assert deployed == 0 and "[production] now runs model v1, app img-7" in out
    assert registry.deployment("production") == dataclasses.replace(
        registry.deployment("integration"), app_version="img-7"
    )
    assert "Selected environment: [integration]" in status
    production_row = next(line for line in status.splitlines() if line.split()[:1] == ["production"])
    assert production_row.split()[1:4] == ["v1", f"{registry.version(1).score:.4f}", "img-7"]
    assert "deploy" in history and "integration" in history and "- -> v1" in history and "- -> img-7" in history


def test_deploying_a_component_config_that_names_an_unknown_version_is_refused_and_nothing_moves(integration, capsys):
    path = integration.root / components.COMPONENT_CONFIG
    mapping = components.as_mapping(integration, "integration", Deployment(99, "app-9", {}))
    components.write(path, mapping)

    refused = deploy_command(["--from-component-config", "--environment", "uat"])
    assert refused == 2 and "there is no model version v99" in capsys.readouterr().err
    without_the_file = app_command(capsys, "deploy", "--app-version", "app-9", "--environment", "uat")
    assert without_the_file[0] == 2 and "--app-version goes with --from-component-config" in without_the_file[2]
    with_an_action = app_command(capsys, "deploy", "--from-component-config", "apply", "--environment", "uat")
    assert with_an_action[0] == 2 and "are not options of `deploy apply`" in with_an_action[2]

    assert open_registry(integration).deployment("uat") == Deployment()


def test_set_environment_configs_checks_every_file_then_applies_one_config_map_per_namespace(
    own_root, kubectl, monkeypatch
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    applied = set_environment_configs_command([])

    assert applied == 0
    assert kubectl.calls() == [["apply", "--server-side", "--force-conflicts", "-f", "-"]]
    sent = {doc["metadata"]["namespace"].rsplit("-", 1)[1]: doc for doc in kubectl.manifests()}
    assert list(sent) == ["integration", "uat", "production"]
    assert yaml.safe_load(sent["uat"]["data"]["environment_uat.yml"])["app_title_extension"] == " - (uat)"

    (own_root.root / "config" / "environment_uat.yml").write_text("colour1: [unclosed\n")
    (kubectl.bin_dir / "calls").unlink()
    refused = run_command(own_root, "local/set_environment_configs.py")  # as a person runs it

    assert refused.returncode == 2 and "environment_uat.yml is not valid YAML" in refused.stderr
    assert kubectl.calls() == []  # kubectl was not called: nothing applied


def test_ci_creates_a_pr_challenger_from_the_component_config_s_environment_and_replaces_it_on_the_next_push(
    production, capsys, tmp_path, monkeypatch
):
    registry = open_registry(production)
    components.write(production.root / components.COMPONENT_CONFIG,
                     components.as_mapping(production, "production", registry.deployment("production")))  # fmt: skip
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))

    first = app_command(capsys, "env", "challenger", "create", "pr-7", "--from-component-config")
    shortened = app_command(capsys, "env", "challenger", "create", "pr-7", "--from-component-config", "--replac")
    again = app_command(capsys, "env", "challenger", "create", "pr-7", "--from-component-config", "--replace")
    following = app_command(capsys, "env", "next", "pr-7")

    assert first[0] == 0 and "Created challenger [pr-7] of [production]" in first[1]
    assert shortened[0] == 2 and "unrecognized arguments: --replac" in shortened[2]  # a typo in a workflow fails it
    assert again[0] == 0 and "Deleted the earlier [pr-7]" in again[1] and "Created challenger [pr-7]" in again[1]
    assert registry.deployment("pr-7") == registry.deployment("production")
    assert following == (0, "production\n", "") and outputs.read_text() == "target=production\n"
    assert app_command(capsys, "env", "next", "production")[0] == 2  # the end of the chain
