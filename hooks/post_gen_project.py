"""Finish the generated app: record the answers, git init.

Every app gets both data backends (DuckDB and BigQuery): switching is a line of config, not a new bake.
"""

import json
import shutil
import subprocess
from pathlib import Path

# tojson twice: the context as JSON text, then that text as a string literal.
CONTEXT = json.loads({{ cookiecutter | tojson | tojson }})

# Where this particular bake happened: meaningless on another machine.
MACHINE_LOCAL = {"_output_dir", "_repo_dir", "_checkout"}


def record_answers(app: Path) -> None:
    # Kept so the app can be regenerated or updated (`cookiecutter --replay-file .cookiecutter.json`, cruft).
    answers = {key: value for key, value in CONTEXT.items() if not key.startswith("__") and key not in MACHINE_LOCAL}
    (app / ".cookiecutter.json").write_text(json.dumps({"cookiecutter": answers}, indent=2) + "\n")


def add_key_placeholder(app: Path) -> None:
    # Where a person pastes the BigQuery service-account key; the app's .gitignore keeps it out of git.
    (app / "config" / "service_account_key.json").touch()


def git_init(app: Path) -> None:
    if shutil.which("git") is None:
        print("git was not found: run `git init` in the app yourself.")
        return
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=app, check=True)


if __name__ == "__main__":
    app = Path.cwd()
    record_answers(app)
    add_key_placeholder(app)
    git_init(app)
    print(f"Created {app.name}. Next: cd {app.name} and follow README.md (Quick start).")
