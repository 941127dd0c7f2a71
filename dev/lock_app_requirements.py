"""`make lock`: the generated app's lock files, made by the app's own command and kept in the template.

Bakes the default app into build/lock/, runs its `local/lock_requirements.py` in its own venv (with the pins already
in the template as preferences), and copies requirements*.txt back into the template's app folder.
    python dev/lock_app_requirements.py [--upgrade]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dev.app_venv import app_python  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[1]
APP_TEMPLATE = TEMPLATE / "{{cookiecutter.app_name}}"
SCRATCH = TEMPLATE / "build" / "lock"


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(SCRATCH)))
    if subprocess.run([str(app_python(app)), "local/lock_requirements.py", *sys.argv[1:]], cwd=app).returncode != 0:
        return 1
    locks = sorted(app.glob("requirements*.txt"))  # the files the app's lock command writes
    for lock in locks:
        shutil.copy2(lock, APP_TEMPLATE / lock.name)
    print(f"Copied {', '.join(lock.name for lock in locks)} into {APP_TEMPLATE.relative_to(TEMPLATE)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
