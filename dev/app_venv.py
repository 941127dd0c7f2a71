"""A virtual environment for a baked app, cached by what it installs so that only the first bake pays.

The cache key is the app's requirements files and the Python version; the app itself is installed
editable on top (without dependencies), which takes a second.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("RETRAIN_TEMPLATE_CACHE") or Path.home() / ".cache" / "retrain-template") / "venvs"


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise RuntimeError("uv is not installed: pip install -r requirements-dev.txt")
    return found


def app_python(app: Path, extra: tuple[str, ...] = ()) -> Path:
    """The Python of a venv holding `app`'s requirements (and the `extra` packages), with `app` installed editable."""
    requirements = app / "requirements-dev.txt"  # which reads requirements.txt
    content = b"".join((app / name).read_bytes() for name in ("requirements.txt", "requirements-dev.txt"))
    # Compiled at install, as pip would: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set (as in many
    # CI images) every Python the tests start would compile pandas, scikit-learn and MLflow anew, 4 s each.
    options = ("--compile-bytecode", *extra)
    key = hashlib.sha256(content + sys.version.encode() + " ".join(options).encode()).hexdigest()[:16]
    venv = CACHE / key
    python = venv / "bin" / "python"
    complete = venv / ".complete"  # written last: a venv without it was interrupted and is rebuilt
    if not complete.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [uv(), "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements), *options], check=True
        )
        complete.touch()
    subprocess.run(
        [uv(), "pip", "install", "--quiet", "--python", str(python), "--no-deps", "-e", str(app)], check=True
    )
    return python
