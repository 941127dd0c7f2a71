"""Environments on the embedded default: the chain, challengers copied from any environment, and their removal."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.app_name }}.config import ConfigError
from {{ cookiecutter.app_name }}.datastore import infer_schema, open_datastore, read_csv
from {{ cookiecutter.app_name }}.environments import ChallengerError, create_challenger, delete_environment, environments
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.registry import open_registry

from .conftest import APP_ROOT, DATA, demo_rows

pytestmark = pytest.mark.unit


@pytest.fixture
def own_root(settings, tmp_path):
    """The settings with a copy of the app's config folder, so that challengers' config files land in it."""
    root = tmp_path / "app"
    (root / "config").mkdir(parents=True)
    for path in (APP_ROOT / "config").glob("environment_*.yml"):
        (root / "config" / path.name).write_text(path.read_text())
    config = yaml.safe_load((APP_ROOT / "config" / "app_config.yml").read_text())
    config.update(data_source=settings.app.data_source, bigquery=settings.app.bigquery)  # as the tests' settings
    (root / "config" / "app_config.yml").write_text(yaml.safe_dump(config))
    quickest = dataclasses.replace(settings.app, max_models_with_no_score_change=1)  # any model will do here
    return dataclasses.replace(settings, root=root, app=quickest)


@pytest.fixture
def production(own_root):
    """Production holding 600 rows of the first period and serving a model trained on them."""
    store = open_datastore(own_root, "production")
    store.create(infer_schema(read_csv(DATA / "dataset_1.csv")))
    store.append(demo_rows("dataset_1.csv", 600))
    retrain(settings=own_root.for_environment("production"))
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
    assert [line.split(":")[0] for line in made] == ["data", "model", "config"]

    challenger.append(demo_rows("dataset_2.csv", 300))  # newer rows, after the drift: the champion scores badly
    searching = dataclasses.replace(production.app, max_models_with_no_score_change=3)
    report = retrain(settings=dataclasses.replace(production.for_environment("production_owen"), app=searching))

    assert report.promoted and registry.champion_version("production_owen") == report.challenger_version
    assert registry.champion_version("production") == served_before
    assert source.count() == rows_before


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
    env = {**os.environ, "APP_ROOT": str(settings.root), "APP_STATE_DIR": str(settings.state_dir)}
    return subprocess.run([sys.executable, *args], cwd=APP_ROOT, env=env, capture_output=True, text=True)


def test_the_commands_create_list_select_and_delete_a_challenger(production):
    selection = Path(production.root) / ".selected_environment"
    created = run_command(production, "local/create_challenger.py", "production_owen", "production")
    listed = run_command(production, "-m", "{{ cookiecutter.app_name }}", "env", "list")
    selected = run_command(production, "-m", "{{ cookiecutter.app_name }}", "env", "select", "production_owen")

    assert created.returncode == 0, created.stderr
    assert "Created challenger [production_owen] of [production]:" in created.stdout
    assert f"data: {open_datastore(production, 'production_owen')} (600 rows)" in created.stdout
    assert listed.returncode == 0, listed.stderr
    owen = next(line for line in listed.stdout.splitlines() if "production_owen" in line)
    assert "challenger of production" in owen and "600 rows" in owen and "v1" in owen
    assert selected.returncode == 0 and selection.read_text() == "production_owen\n"

    refused = run_command(production, "-m", "{{ cookiecutter.app_name }}", "env", "delete", "production")
    deleted = run_command(production, "-m", "{{ cookiecutter.app_name }}", "env", "delete", "production_owen")

    assert refused.returncode == 2 and "cannot be deleted" in refused.stderr
    assert deleted.returncode == 0 and "Deleted [production_owen]" in deleted.stdout
    assert "commands now work on [integration]" in deleted.stdout and not selection.exists()  # the selection went too
