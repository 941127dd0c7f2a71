"""Format the app template's Python files with ruff, as if they were plain code.

Bakes the default app, runs `ruff format` and `ruff check --fix` on it, and writes each formatted
file back into the template with the app name turned back into its placeholder. Files that hold
any other template syntax are left alone and listed: format those by hand.
    python dev/format_template.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
APP_FOLDER = TEMPLATE / "{{cookiecutter.app_name}}"
PLACEHOLDER = "{{ cookiecutter.app_name }}"


def main() -> int:
    app_name = json.loads((TEMPLATE / "cookiecutter.json").read_text())["app_name"]
    skipped = []
    with tempfile.TemporaryDirectory() as scratch:
        app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch))
        subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(app)], check=True)
        subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--quiet", str(app)], check=False)
        for source in sorted(APP_FOLDER.rglob("*.py")):
            text = source.read_text()
            if "{%" in text or text.replace(PLACEHOLDER, "").count("{{") > 0:
                skipped.append(source.relative_to(TEMPLATE))
                continue
            baked = app / str(source.relative_to(APP_FOLDER)).replace("{{cookiecutter.app_name}}", app_name)
            formatted = baked.read_text().replace(app_name, PLACEHOLDER)
            if formatted != text:
                source.write_text(formatted)
                print(f"formatted {source.relative_to(TEMPLATE)}")
    for path in skipped:
        print(f"left alone (other template syntax): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
