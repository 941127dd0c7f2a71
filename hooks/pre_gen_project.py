"""Refuse answers that would generate a broken app, with a one-line reason each: first the answers themselves,
then the data (the training_data file, else the demo data) against the target, problem type and time column."""

import json
import keyword
import re
import sys
from pathlib import Path

# Every answer, as JSON inside a string literal: the hook is valid Python before cookiecutter renders it.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# The template's folder, absolute: cookiecutter's own _repo_dir is relative when it was given a relative path.
TEMPLATE_FOLDER = r"""{{ cookiecutter._repo_dir | template_folder }}"""

sys.path.insert(0, TEMPLATE_FOLDER if Path(TEMPLATE_FOLDER).is_dir() else str(Path(__file__).resolve().parents[1]))
from local_extensions import BASE_IMAGES  # noqa: E402  (the template's own module, at its root)

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# Google's rules: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter.
GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
BIGQUERY_DATASET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1000}$")
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PYTHON_VERSION = re.compile(r"^3\.(\d+)$")


def problems(answers: dict[str, str]) -> list[str]:
    found = []
    app_name = answers["app_name"]
    app_name_ok = bool(IDENTIFIER.match(app_name)) and not keyword.iskeyword(app_name)
    if not app_name_ok:
        found.append(
            f"app_name {app_name!r} must be a lowercase Python identifier "
            "(letters, digits and _, starting with a letter), e.g. bookkeeping_retrain"
        )
    if not answers["target"].strip():
        found.append("target must name the column to predict, e.g. Account_Name")
    if not answers["app_title"].strip():
        found.append("app_title must not be empty: it is the web page's title")
    if not MODEL_NAME.match(answers["model_name"]):
        found.append(
            f"model_name {answers['model_name']!r} must start with a letter or digit and hold only "
            "letters, digits, '_', '.' and '-'"
        )
    if answers["problem_type"] not in ("classification", "regression"):
        found.append(f"problem_type {answers['problem_type']!r} must be classification or regression")
    gcp_project = answers["gcp_project"]
    if answers["data_source"] == "bigquery" and not gcp_project:
        found.append("data_source bigquery needs a gcp_project (the Google Cloud project that holds the datasets)")
    if gcp_project and not GCP_PROJECT.match(gcp_project):
        found.append(
            f"gcp_project {gcp_project!r} is not a Google Cloud project id "
            "(6-30 lowercase letters, digits and hyphens, starting with a letter)"
        )
    # The dataset name defaults to the app name: one bad answer, one reason.
    dataset_is_app_name = answers["bigquery_dataset"] == app_name
    if not BIGQUERY_DATASET.match(answers["bigquery_dataset"]) and (app_name_ok or not dataset_is_app_name):
        found.append(
            f"bigquery_dataset {answers['bigquery_dataset']!r} may hold only letters, digits and _ "
            "and must not start with a digit"
        )
    if not GITHUB_OWNER.match(answers["github_org"]):
        found.append(f"github_org {answers['github_org']!r} is not a GitHub user or organisation name")
    version = PYTHON_VERSION.match(answers["python_version"])
    if not version or int(version.group(1)) < 11:
        found.append(f"python_version {answers['python_version']!r} must be 3.11 or newer, written like 3.12")
    elif answers["python_version"] not in BASE_IMAGES:
        found.append(
            f"python_version {answers['python_version']!r} has no base image pinned in this template, which pins "
            f"{', '.join(BASE_IMAGES)}: choose one of those, or add python:{answers['python_version']}-slim-bookworm "
            "with its digest to BASE_IMAGES in local_extensions.py"
        )
    return found


def data_problems(answers: dict[str, str]) -> list[str]:
    """What is wrong with the app's data (the training_data file, else the demo data) for these answers."""
    from training_data import profile, training_files

    data = profile(training_files(answers), answers["target"], answers["problem_type"], answers["time_column"],
                   answers["time_format"])  # fmt: skip
    return data.problems


if __name__ == "__main__":
    answers = {**json.loads(ANSWERS_JSON), "_repo_dir": TEMPLATE_FOLDER}
    sys.path.insert(0, str(Path(TEMPLATE_FOLDER) / "hooks"))  # training_data.py, beside this hook
    reasons = problems(answers)
    if not reasons and answers["target"].strip():
        reasons = data_problems(answers)
    if reasons:
        # cookiecutter shows only that the hook failed; the reasons are what the person needs to read.
        for reason in reasons:
            print(f"ERROR: {reason}", file=sys.stderr)
        sys.exit(1)
