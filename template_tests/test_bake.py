"""Baking: every supported combination of answers gives a complete, clean app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE, VARIANTS, house_sales, support_tickets

EXPECTED_FILES = {
    ".cookiecutter.json",
    ".cruft.json",
    ".gitignore",
    "README.md",
    "docs/environments.md",
    "docs/configuration.md",
    "docs/operations.md",
    "docs/reliability.md",
    "docs/benchmarks.md",
    "pyproject.toml",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-tracking-server.txt",
    "local_retrain.py",
    "uwsgi.ini",
    "config/app_config.yml",
    "config/environment_integration.yml",
    "config/environment_uat.yml",
    "config/environment_production.yml",
    "config/service_account_key.json",
    "data/dataset_1.csv",
    "data/dataset_2.csv",
    "local/create_database.py",
    "local/upload_data.py",
    "local/run_server.py",
    "local/online_learning.py",
    "local/retrain_in_cloud.py",
    "local/benchmark_serving.py",
    "local/create_challenger.py",
    "local/bigquery/create_database.py",
    "local/bigquery/upload_data_to_bigquery.py",
    "local/bigquery/set_service_account_key.py",
    "local/bigquery/benchmark_bigquery.py",
    "src/{app}/__init__.py",
    "src/{app}/__main__.py",
    "src/{app}/environments/__init__.py",
    "src/{app}/environments/chain.py",
    "src/{app}/environments/challengers.py",
    "src/{app}/config.py",
    "src/{app}/cli/__init__.py",
    "src/{app}/cli/command.py",
    "src/{app}/deploy/__init__.py",
    "src/{app}/deploy/tools.py",
    "src/{app}/cli/retrain.py",
    "src/{app}/cli/remote.py",
    "src/{app}/cli/serve.py",
    "src/{app}/cli/data.py",
    "src/{app}/cli/environments.py",
    "src/{app}/cli/deploy.py",
    "src/{app}/cli/component_config.py",
    "src/{app}/cli/registry.py",
    "src/{app}/cli/monitor.py",
    "src/{app}/pipeline.py",
    "src/{app}/labelled_rows.py",
    "src/{app}/packaged_model.py",
    "src/{app}/registry.py",
    "src/{app}/registry_guard.py",
    "src/{app}/web/champion.py",
    "src/{app}/web/probes.py",
    "src/{app}/web/metrics.py",
    "src/{app}/web/server.py",
    "src/{app}/web/wsgi.py",
    "src/{app}/web/services.py",
    "src/{app}/laptop/__init__.py",
    "src/{app}/laptop/client.py",
    "src/{app}/laptop/embedded_redis.py",
    "src/{app}/laptop/stack.py",
    "src/{app}/laptop/mlflow_model_server.py",
    "src/{app}/web/__init__.py",
    "src/{app}/web/api/__init__.py",
    "src/{app}/web/api/auth.py",
    "src/{app}/web/api/endpoints.py",
    "src/{app}/web/api/uploads.py",
    "src/{app}/web/ui/__init__.py",
    "src/{app}/web/ui/templates/index.html",
    "src/{app}/web/ui/templates/unauthorised.html",
    "src/{app}/web/ui/static/app.css",
    "src/{app}/web/ui/static/app.js",
    "src/{app}/web/ui/static/images/logo.svg",
    "src/{app}/web/ui/static/vendor/README.md",
    "src/{app}/web/ui/static/vendor/chart.umd.min.js",
    "src/{app}/web/ui/static/vendor/chart.js-LICENSE.md",
    "src/{app}/worker/__init__.py",
    "src/{app}/worker/celery_app.py",
    "src/{app}/worker/queue.py",
    "src/{app}/worker/tasks.py",
    "src/{app}/datastore/__init__.py",
    "src/{app}/datastore/schema.py",
    "src/{app}/datastore/duckdb_store.py",
    "src/{app}/datastore/bigquery_store.py",
    "src/{app}/datastore/credentials.py",
    "src/{app}/datastore/journal.py",
    "src/{app}/monitoring/__init__.py",
    "src/{app}/monitoring/prediction_log.py",
    "src/{app}/monitoring/drift.py",
    "src/{app}/monitoring/monitor.py",
    "src/{app}/monitoring/metrics.py",
    "src/{app}/ml/__init__.py",
    "src/{app}/ml/features.py",
    "src/{app}/ml/metrics.py",
    "src/{app}/ml/prediction.py",
    "src/{app}/ml/record_scorer.py",
    "src/{app}/ml/training.py",
    "src/{app}/ml/holdout.py",
    "src/{app}/ml/ensemble.py",
    "src/{app}/ml/values.py",
    "src/{app}/ml/cost.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/cluster_access.py",
    "tests/test_datastore.py",
    "tests/test_ml.py",
    "tests/test_structure.py",
    "tests/test_pipeline.py",
    "tests/test_packaged_model.py",
    "tests/test_builds.py",
    "tests/test_api.py",
    "tests/test_integration.py",
    "tests/test_faults.py",
    "tests/bad_inputs.py",
    "tests/test_bad_input.py",
    "tests/test_browser.py",
    "tests/test_worker.py",
    "tests/test_record_scorer.py",
    "tests/test_run_server.py",
    "tests/test_metrics.py",
    "tests/test_monitoring.py",
    "tests/test_bigquery.py",
    "tests/test_environments.py",
    "tests/kubectl_port_forward.py",
    "src/{app}/laptop/bigquery_emulator.py",
    "src/{app}/provenance.py",
    "src/{app}/processes.py",
    "src/{app}/environments/deployments.py",
    "src/{app}/environments/component_config.py",
    "local/set_environment_configs.py",
    "local/lock_requirements.py",
    ".pre-commit-config.yaml",
    ".git_hooks/pre-commit",
    "tests/test_component_config.py",
    "src/{app}/deploy/manifests.py",
    "docker/Dockerfile",
    ".dockerignore",
    "k8s/base/kustomization.yaml",
    "k8s/base/namespace.yml",
    "k8s/base/{app}.yml",
    "k8s/base/celery_worker.yml",
    "k8s/base/celery_redis.yml",
    "k8s/base/network_policies.yml",
    "k8s/components/beat/kustomization.yaml",
    "k8s/components/beat/celery_beat.yml",
    "k8s/overlays/integration/kustomization.yaml",
    "k8s/overlays/uat/kustomization.yaml",
    "k8s/overlays/production/kustomization.yaml",
    "k8s/challenger_access.yml",
    "k8s/mlflow.yml",
    "docker/mlflow.Dockerfile",
    ".yamllint.yml",
    "tests/test_deployment.py",
    "tests/test_smoke.py",
    "tests/test_container_commands.py",
    "tests/test_workflows.py",
    ".github/workflows/challenger-test.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/promote.yml",
    ".github/actions/setup/action.yml",
    ".github/dependabot.yml",
}


def files_of(app: Path) -> set[str]:
    return {str(path.relative_to(app)) for path in app.rglob("*") if path.is_file() and ".git" not in path.parts}


def test_default_bake_has_the_expected_files_and_a_git_repository(bake):
    app = bake()

    assert app.name == "bookkeeping_retrain"
    assert files_of(app) == {path.format(app="bookkeeping_retrain") for path in EXPECTED_FILES}
    assert (app / ".git").is_dir()
    assert os.access(app / ".git_hooks" / "pre-commit", os.X_OK), "git runs the hook only if it is executable"
    ignored = subprocess.run(["git", "check-ignore", "config/service_account_key.json"], cwd=app, capture_output=True)
    assert ignored.returncode == 0, "the key placeholder must be kept out of git"


def test_the_answers_are_recorded_for_replay(bake):
    app = bake(app_name="invoice_sorter", target="Supplier")

    recorded = json.loads((app / ".cookiecutter.json").read_text())["cookiecutter"]

    assert recorded["app_name"] == "invoice_sorter" and recorded["target"] == "Supplier"
    assert "_output_dir" not in recorded  # where it was baked means nothing elsewhere


def test_the_recorded_answers_bake_the_same_app_again(bake, tmp_path):
    app = bake(training_data=str(house_sales(tmp_path / "houses.csv", rows=300)), target="sale_price",
               problem_type="regression")  # fmt: skip
    replay = tmp_path / "replay"
    replay.mkdir()
    (replay / "bookkeeping_retrain.json").write_text((app / ".cookiecutter.json").read_text())

    again = subprocess.run([sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--replay-file",
                            str(replay / "bookkeeping_retrain.json"), "-o", str(tmp_path / "again")],
                           capture_output=True, text=True, cwd=tmp_path)  # fmt: skip

    assert again.returncode == 0, again.stderr
    for path in ("config/app_config.yml", "data/dataset_1.csv", "data/dataset_2.csv"):
        assert (tmp_path / "again" / app.name / path).read_text() == (app / path).read_text(), path


def test_answers_reach_the_config(bake):
    app = bake(app_name="invoice_sorter", model_name="invoices", target="Supplier", app_title="Invoice Sorter")

    config = (app / "config" / "app_config.yml").read_text()

    assert "model_name: 'invoices'" in config and 'target: "Supplier"' in config
    assert "app_title: 'Invoice Sorter'" in config
    assert (app / "src" / "invoice_sorter" / "pipeline.py").is_file()


def test_an_app_made_from_your_csv_carries_its_rows_and_schema_and_nothing_of_the_demo(bake, tmp_path):
    houses = house_sales(tmp_path / "houses.csv", rows=1000)

    app = bake(training_data=str(houses), target="sale_price", problem_type="regression", model_name="houses")

    first, later = ((app / "data" / name).read_text().splitlines() for name in ("dataset_1.csv", "dataset_2.csv"))
    original = houses.read_text().splitlines()
    assert first[0] == later[0] == "Unnamed: 0" + original[0]
    assert len(first) - 1 == 600 and sorted(first[1:] + later[1:]) == sorted(original[1:])
    config = (app / "config" / "app_config.yml").read_text()
    assert '  "Unnamed: 0": integer\n  neighbourhood: string\n  rooms: integer\n  floor_area_m2: float\n' in config
    assert "time_column: null" in config and "ignore: []" in config
    for demo_only in ("Transaction_Id", "Account_Name", "Date", "Supplier"):
        assert demo_only not in config
    assert "`houses.csv`" in (app / "README.md").read_text()
    assert json.loads((app / ".cookiecutter.json").read_text())["cookiecutter"]["training_data"] == str(houses)


def test_with_a_time_column_the_first_load_is_the_oldest_rows_and_config_names_the_column(bake, tmp_path):
    app = bake(training_data=str(support_tickets(tmp_path / "tickets.csv")), target="team", time_column="opened_on")

    first, later = ((app / "data" / name).read_text().splitlines()[1:] for name in ("dataset_1.csv", "dataset_2.csv"))

    assert max(row.split(",")[0] for row in first) <= min(row.split(",")[0] for row in later)
    config = (app / "config" / "app_config.yml").read_text()
    assert 'time_column: "opened_on"' in config and "  opened_on: date\n" in config


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_renders_completely_and_is_ruff_clean(bake, variant):
    app = bake(**VARIANTS[variant])

    for path in app.rglob("*"):
        # Flask's own Jinja templates are meant to keep their {{ }}.
        if path.is_file() and ".git" not in path.parts and path.suffix != ".csv" and "templates" not in path.parts:
            text = re.sub(r"\$\{\{.*?\}\}", "", path.read_text())  # GitHub's expressions are meant to stay
            assert "{{" not in text and "{%" not in text, f"unrendered template syntax in {path.relative_to(app)}"
    for command in (["check"], ["format", "--check"]):
        linted = subprocess.run([sys.executable, "-m", "ruff", *command, "."], cwd=app, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_score_type_fits_the_problem_type(bake):
    regression = (bake(problem_type="regression", target="Amount") / "config" / "app_config.yml").read_text()

    assert "score_type: rmse" in regression


def test_the_templates_own_python_is_ruff_clean():
    own = ["dev", "hooks", "template_tests", "local_extensions.py"]  # the app template is checked once baked
    for command in (["check"], ["format", "--check"]):
        linted = subprocess.run([sys.executable, "-m", "ruff", *command, *own], cwd=TEMPLATE, capture_output=True,
                                text=True)  # fmt: skip
        assert linted.returncode == 0, linted.stdout + linted.stderr
