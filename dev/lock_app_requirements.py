"""`make lock`: the generated app's lock files, made by the app's own command and kept in the template.

Bakes the default app into build/lock/, runs its `local/lock_requirements.py` (with the pins already in the
template as preferences), and copies requirements*.txt back into the template's app folder.
    python dev/lock_app_requirements.py [--upgrade]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
APP_TEMPLATE = TEMPLATE / "{{cookiecutter.app_name}}"
SCRATCH = TEMPLATE / "build" / "lock"
LOCKS = ("requirements.txt", "requirements-dev.txt", "requirements-tracking-server.txt")


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(SCRATCH)))
    # The dev venv's uv, which the app's script looks for beside the Python that runs it.
    if subprocess.run([sys.executable, "local/lock_requirements.py", *sys.argv[1:]], cwd=app).returncode != 0:
        return 1
    for lock in LOCKS:
        shutil.copy2(app / lock, APP_TEMPLATE / lock)
    print(f"Copied {', '.join(LOCKS)} into {APP_TEMPLATE.relative_to(TEMPLATE)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
