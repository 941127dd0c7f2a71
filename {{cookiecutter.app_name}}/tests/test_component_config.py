"""The component config hook, in a real git repository the test makes, run by pre-commit and by git itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from {{ cookiecutter.app_name }}.environments import component_file as components
from {{ cookiecutter.app_name }}.environments import deploy_checkout
from {{ cookiecutter.app_name }}.registry import open_registry

from .conftest import started_now
from .support.data import APP_ROOT, copy_app_config

pytestmark = pytest.mark.git

HOOK_ID = "snapshot-component-config"
PROMPT = r"Would you like to overwrite your local component_config with the one from \[integration\]\? \[y/n\]"


@pytest.fixture
def repo(settings, tmp_path, monkeypatch) -> Path:
    """A git repository holding the app's config, its hook script and the local hooks of .pre-commit-config.yaml
    (the others are fetched from GitHub, which tests cannot reach), committed; integration runs app version app-1."""
    root = copy_app_config(tmp_path / "repo", data_source=settings.app.data_source, bigquery=settings.app.bigquery)
    shutil.copytree(APP_ROOT / ".git_hooks", root / ".git_hooks")
    config = yaml.safe_load((APP_ROOT / ".pre-commit-config.yaml").read_text())
    local_only = {"repos": [repo for repo in config["repos"] if repo["repo"] == "local"]}
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(local_only, sort_keys=False))
    (root / "README.md").write_text("An app.\n")
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "start"]):
        subprocess.run(command, cwd=root, env=git_env(settings, tmp_path), check=True)

    monkeypatch.setenv("APP_VERSION", "app-1")
    deploy_checkout(started_now(settings), open_registry(settings), "integration")
    return root


def git_env(settings, tmp_path: Path) -> dict[str, str]:
    """What git, pre-commit and the hook need: this venv's python first on PATH, the test's registry, an author."""
    outside = ("APP_ROOT", "APP_ENVIRONMENT", "APP_VERSION", "GIT_DIR", "GIT_INDEX_FILE")  # the repo decides these
    env = {key: value for key, value in os.environ.items() if key not in outside}
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "APP_STATE_DIR": str(settings.state_dir),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        **{f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
           for what, value in (("NAME", "Tess Ter"), ("EMAIL", "tess@example.com"))},
    }  # fmt: skip


def without_terminal(repo: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    """Run as CI does: no terminal to ask on (a new session has no controlling terminal)."""
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, start_new_session=True)


def listed_app_version(repo: Path) -> str | None:
    mapping = components.read(repo / components.COMPONENT_CONFIG)
    return mapping and next(c["component"]["version"] for c in mapping["components"] if c["component"]["type"] == "app")


def test_the_full_pre_commit_config_is_valid(tmp_path):
    checked = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
                             cwd=APP_ROOT, env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path)},
                             capture_output=True, text=True)  # fmt: skip

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_hook_fails_with_the_difference_when_no_one_can_answer_and_passes_once_the_file_is_written(
    settings, repo, tmp_path, monkeypatch
):
    env = git_env(settings, tmp_path)
    pre_commit = [sys.executable, "-m", "pre_commit", "run", HOOK_ID]

    unanswered = without_terminal(repo, env, *pre_commit)
    written = without_terminal(repo, env, sys.executable, ".git_hooks/pre-commit", "--yes")
    matching = without_terminal(repo, env, *pre_commit)

    assert unanswered.returncode == 1 and "+    version: app-1" in unanswered.stdout
    assert "No terminal to ask on" in unanswered.stdout + unanswered.stderr
    assert written.returncode == 0 and "Wrote config/component_config.yml from [integration]" in written.stdout
    assert listed_app_version(repo) == "app-1"
    assert matching.returncode == 0 and "Passed" in matching.stdout, matching.stdout

    monkeypatch.setenv("APP_VERSION", "app-2")  # integration is redeployed with a newer app
    deploy_checkout(started_now(settings), open_registry(settings), "integration")
    behind = without_terminal(repo, env, *pre_commit)

    assert behind.returncode == 1 and "-    version: app-1" in behind.stdout and "+    version: app-2" in behind.stdout
    assert listed_app_version(repo) == "app-1"  # unchanged until someone says so


def commit_at_a_terminal(repo: Path, env: dict[str, str], answer: str) -> tuple[int, str]:
    """`git commit` at a (pseudo-)terminal, answering the hook's question with `answer`: exit code and what showed."""
    (repo / "README.md").write_text((repo / "README.md").read_text() + "More.\n")
    subprocess.run(["git", "add", "README.md"], cwd=repo, env=env, check=True)
    session = pexpect.spawn("git", ["commit", "-m", f"answered {answer}"], cwd=str(repo), env=env,
                            encoding="utf-8", timeout=120)  # fmt: skip
    session.expect(PROMPT)
    session.sendline(answer)
    session.expect(pexpect.EOF)
    session.close()
    return session.exitstatus, session.before


def test_at_a_terminal_the_commit_asks_and_n_keeps_the_file_while_y_writes_it(settings, repo, tmp_path):
    env = git_env(settings, tmp_path)
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=env, check=True, capture_output=True)

    kept_status, _ = commit_at_a_terminal(repo, env, "n")

    assert kept_status == 0 and listed_app_version(repo) is None  # the commit went ahead, the file untouched
    assert "answered n" in git_log(repo, env)

    wrote_status, shown = commit_at_a_terminal(repo, env, "y")

    assert listed_app_version(repo) == "app-1"
    assert wrote_status == 1 and "git add config/component_config.yml" in shown  # stopped, so the file can go in
    assert "answered y" not in git_log(repo, env)

    subprocess.run(["git", "add", str(components.COMPONENT_CONFIG)], cwd=repo, env=env, check=True)
    committed = without_terminal(repo, env, "git", "commit", "-m", "with component config")

    assert committed.returncode == 0, committed.stdout + committed.stderr  # the file now matches: nothing to ask
    assert "with component config" in git_log(repo, env)


def git_log(repo: Path, env: dict[str, str]) -> str:
    return subprocess.run(["git", "log", "--format=%s"], cwd=repo, env=env, capture_output=True, text=True).stdout
