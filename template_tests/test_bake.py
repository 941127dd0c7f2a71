"""Baking: every supported combination of answers gives a complete, clean app."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE, VARIANTS, house_sales, support_tickets

TEMPLATE_APP = TEMPLATE / "{{cookiecutter.app_name}}"
# What the journey's first commands and the pipelines name: a bake without one of them is no app.
REQUIRED_FILES = (
    "README.md",
    "pyproject.toml",
    "requirements.txt",
    "requirements-dev.txt",
    "local_retrain.py",
    "local/create_database.py",
    "local/upload_data.py",
    "local/run_server.py",
    "config/app_config.yml",
    "config/environment_integration.yml",
    "data/dataset_1.csv",
    "data/dataset_2.csv",
    "docker/Dockerfile",
    "k8s/base/kustomization.yaml",
    ".github/workflows/challenger-test.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/promote.yml",
    ".git_hooks/pre-commit",
    "src/{app}/__main__.py",
)
UNRENDERED = re.compile(r"\{\{-? ?cookiecutter|\{%-? ")  # what Jinja leaves of a template it did not render


def files_of(app: Path) -> set[str]:
    return {str(path.relative_to(app)) for path in app.rglob("*") if path.is_file() and ".git" not in path.parts}


def template_files(app_name: str) -> set[str]:
    """The app template's files, named as a bake names them."""
    return {path.replace("{{cookiecutter.app_name}}", app_name) for path in files_of(TEMPLATE_APP)}


def copied_without_render(path: str) -> bool:
    patterns = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_copy_without_render"]
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def test_default_bake_has_every_file_of_the_template_rendered_and_a_git_repository(bake):
    app = bake()

    files = files_of(app)
    assert app.name == "bookkeeping_retrain"
    assert {path.format(app=app.name) for path in REQUIRED_FILES} <= files
    assert template_files(app.name) <= files and {".cookiecutter.json", ".cruft.json"} <= files
    unrendered = [path for path in sorted(files) if UNRENDERED.search(path) or (
        not copied_without_render(path) and UNRENDERED.search((app / path).read_text(errors="replace")))]  # fmt: skip
    assert unrendered == [], "Jinja left these unrendered"
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
