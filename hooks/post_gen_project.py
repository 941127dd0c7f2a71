"""Finish the generated app: its data and the table schema read off it, the answers recorded, git init.

Every app gets both data backends (DuckDB and BigQuery): switching is a line of config, not a new bake.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Every answer, as JSON inside a string literal: the hook is valid Python before cookiecutter renders it.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# The template's folder, absolute: cookiecutter's own _repo_dir is relative when it was given a relative path.
TEMPLATE_FOLDER = r"""{{ cookiecutter._repo_dir | template_folder }}"""

# Where this particular bake happened: meaningless on another machine.
MACHINE_LOCAL = {"_output_dir", "_repo_dir", "_checkout"}
# Kept although private: replaying the answers needs the data file, wherever cookiecutter was run from.
RECORDED_PRIVATE = {"__training_data_path"}
# What `cruft update` leaves alone: the app's own data, which the template only seeds, and the answers, which say
# where each bake happened (cruft keeps .cruft.json itself).
UPDATE_SKIPS = ("data", ".cookiecutter.json", ".cruft.json")
EMPTY_SCHEMA = "schema: {}\n"  # the line of config/app_config.yml that the data's schema replaces
NO_TIME_FORMAT = 'time_format: ""'  # and the one a time format found in the data replaces


def add_data(app: Path, answers: dict) -> None:
    """The data the app starts with, and its columns' types in app config so that every table is made alike."""
    from training_data import FIRST_LOAD_SHARE, profile, schema_yaml, split_into_loads, training_files

    files = training_files(answers)
    target, time_column = answers["target"], answers["time_column"]
    data = profile(files, target, answers["problem_type"], time_column, answers["time_format"])
    if answers["training_data"].strip():
        left_out = split_into_loads(
            files[0], app / "data" / "dataset_1.csv", app / "data" / "dataset_2.csv", data, target, time_column
        )
        order = f"the oldest by {time_column}" if time_column else "drawn at random"
        print(
            f"data/dataset_1.csv holds {FIRST_LOAD_SHARE:.0%} of the rows of {files[0].name} ({order}), "
            "data/dataset_2.csv the rest."
        )
        if left_out:
            print(f"Left out {left_out} rows with no {target} value: a row without its answer teaches a model nothing.")
    config = app / "config" / "app_config.yml"
    text = config.read_text(encoding="utf-8")
    text = text.replace(EMPTY_SCHEMA, schema_yaml(data.types), 1)
    if data.time_format and not answers["time_format"]:  # found in the data: written down, so the app never guesses
        text = text.replace(NO_TIME_FORMAT, f"time_format: {json.dumps(data.time_format)}", 1)
    config.write_text(text, encoding="utf-8")


def record_answers(app: Path, answers: dict) -> None:
    # Kept so the app can be regenerated (`cookiecutter --replay-file .cookiecutter.json`) or updated (.cruft.json).
    kept = {
        key: value
        for key, value in answers.items()
        if (not key.startswith("__") or key in RECORDED_PRIVATE) and key not in MACHINE_LOCAL
    }
    (app / ".cookiecutter.json").write_text(json.dumps({"cookiecutter": kept}, indent=2) + "\n")
    record_template(app, kept)


def record_template(app: Path, answers: dict) -> None:
    """.cruft.json: the template and the commit the app was made from, so that `cruft update` can bring in what the
    template changed since, keeping what the app's team changed."""
    from cookiecutter.config import BUILTIN_ABBREVIATIONS
    from cookiecutter.repository import expand_abbreviations, is_repo_url

    head = shutil.which("git") and subprocess.run(["git", "-C", TEMPLATE_FOLDER, "rev-parse", "HEAD"],
                                                  capture_output=True, text=True)  # fmt: skip
    if not head or head.returncode != 0:
        print("The template is not a git checkout: no .cruft.json, so `cruft update` cannot update this app.")
        return
    given = expand_abbreviations(answers.get("_template", ""), BUILTIN_ABBREVIATIONS)  # gh:org/name -> its URL
    state = {
        "template": given if is_repo_url(given) else TEMPLATE_FOLDER,  # a folder given relative to elsewhere: absolute
        "commit": head.stdout.strip(),
        "checkout": None,
        "context": {"cookiecutter": answers},
        "directory": None,
        "skip": list(UPDATE_SKIPS),
    }
    (app / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n")


def add_key_placeholder(app: Path) -> None:
    # Where a person pastes the BigQuery service-account key; the app's .gitignore keeps it out of git.
    (app / "config" / "service_account_key.json").touch()


def git_init(app: Path) -> None:
    if shutil.which("git") is None:
        print("git was not found: run `git init` in the app yourself.")
        return
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=app, check=True)


if __name__ == "__main__":
    answers = {**json.loads(ANSWERS_JSON), "_repo_dir": TEMPLATE_FOLDER}
    sys.path.insert(0, str(Path(TEMPLATE_FOLDER) / "hooks"))  # training_data.py, beside this hook
    app = Path.cwd()
    add_data(app, answers)
    record_answers(app, answers)
    add_key_placeholder(app)
    git_init(app)
    print(f"Created {app.name}. Next: cd {app.name} and follow README.md (Quick start).")
