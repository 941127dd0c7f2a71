"""An app made from an earlier commit of the template takes a later one with `cruft update`, keeping its team's
changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

from .conftest import TEMPLATE

GIT_PERSON = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
              "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}  # fmt: skip
NOT_THE_TEMPLATE = shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ruff_cache")


def git(folder: Path, *args: str) -> str:
    finished = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              env={**os.environ, **GIT_PERSON})  # fmt: skip
    assert finished.returncode == 0, f"git {' '.join(args)}: {finished.stderr}"
    return finished.stdout


def commit_all(folder: Path, message: str) -> str:
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "--message", message)
    return git(folder, "rev-parse", "HEAD").strip()


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_cruft_update_brings_the_template_s_change_and_keeps_the_team_s(tmp_path):
    template = tmp_path / "retrain-template"
    shutil.copytree(TEMPLATE, template, ignore=NOT_THE_TEMPLATE)
    git(template, "init", "--quiet", "--initial-branch=main")
    earlier = commit_all(template, "the template as it is")
    app = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "apps")))
    commit_all(app, "the app as baked")

    # The team changes a value of the app config and adds a file of its own.
    replace_in(app / "config" / "app_config.yml", "max_minutes_to_train: 5 ", "max_minutes_to_train: 7 ")
    (app / "docs").mkdir(exist_ok=True)  # the template's reference pages are there already
    (app / "docs" / "runbook.md").write_text("# What we do when the model drifts\n")
    commit_all(app, "our changes")
    # The template changes another value of the same file, and its README.
    template_app = template / "{{cookiecutter.app_name}}"
    replace_in(template_app / "config" / "app_config.yml", "min_improvement: 0.0\n", "min_improvement: 0.001\n")
    with (template_app / "README.md").open("a") as readme:
        readme.write("\n## Changes\n\nA later template's section.\n")
    later = commit_all(template, "a later template")

    recorded = json.loads((app / ".cruft.json").read_text())
    updated = subprocess.run([sys.executable, "-m", "cruft", "update", "--skip-apply-ask"], cwd=app,
                             capture_output=True, text=True, env={**os.environ, **GIT_PERSON})  # fmt: skip

    assert recorded["commit"] == earlier and recorded["template"] == str(template)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    config = (app / "config" / "app_config.yml").read_text()
    assert "max_minutes_to_train: 7 " in config and "min_improvement: 0.001\n" in config
    assert (app / "README.md").read_text().endswith("A later template's section.\n")
    assert (app / "docs" / "runbook.md").exists()
    assert json.loads((app / ".cruft.json").read_text())["commit"] == later
    changed = sorted(line[3:] for line in git(app, "status", "--porcelain").splitlines())
    assert changed == [".cruft.json", "README.md", "config/app_config.yml"]
