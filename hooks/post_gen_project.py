"""Finish the generated app: prune what the answers did not choose, record the answers, git init."""

import json
import shutil
import subprocess
from pathlib import Path

# tojson twice: the context as JSON text, then that text as a string literal.
CONTEXT = json.loads({{ cookiecutter | tojson | tojson }})

# Paths (relative to the app) that only make sense for one answer of an option.
ONLY_FOR = {
    ("data_source", "bigquery"): ["local/bigquery", "src/{{ cookiecutter.app_name }}/datastore/bigquery_store.py"],
}


def prune(app: Path) -> None:
    for (option, value), paths in ONLY_FOR.items():
        if CONTEXT[option] == value:
            continue
        for relative in paths:
            path = app / relative
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


# Where this particular bake happened: meaningless on another machine.
MACHINE_LOCAL = {"_output_dir", "_repo_dir", "_checkout"}


def record_answers(app: Path) -> None:
    # Kept so the app can be regenerated or updated (`cookiecutter --replay-file .cookiecutter.json`, cruft).
    answers = {key: value for key, value in CONTEXT.items() if not key.startswith("__") and key not in MACHINE_LOCAL}
    (app / ".cookiecutter.json").write_text(json.dumps({"cookiecutter": answers}, indent=2) + "\n")


def git_init(app: Path) -> None:
    if shutil.which("git") is None:
        print("git was not found: run `git init` in the app yourself.")
        return
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=app, check=True)


if __name__ == "__main__":
    app = Path.cwd()
    prune(app)
    record_answers(app)
    git_init(app)
    print(f"Created {app.name}. Next: cd {app.name} and follow README.md (Quick start).")
