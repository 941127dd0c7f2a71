"""Lock the app's requirements from pyproject.toml, with hashes, for every platform and Python it allows:
requirements.txt (what the image installs), requirements-dev.txt (the tests and linters too) and
requirements-tracking-server.txt (docker/mlflow.Dockerfile, on the MLflow version of requirements.txt).

python local/lock_requirements.py [--upgrade]

Pins already in the files stay unless pyproject.toml needs others; --upgrade takes the newest releases it allows.
Needs only uv (pip install uv), not the app: run it before the first install as well.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parents[1]
LOCKS = {
    "requirements.txt": ("pyproject.toml", "--group", "build"),
    "requirements-dev.txt": ("pyproject.toml", "--group", "build", "--group", "dev"),
    # The tracking server's packages alone, constrained to the versions the app's client runs.
    "requirements-tracking-server.txt": ("--group", "tracking-server", "--group", "build", "-c", "requirements.txt"),
}


def uv() -> list[str]:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="take the newest releases pyproject.toml allows")
    args = parser.parse_args()
    for lock, sources in LOCKS.items():
        options = ["--universal", "--generate-hashes", "--no-annotate", "--quiet", "--output-file", lock]
        command = [*uv(), "pip", "compile", *sources, *options, *(["--upgrade"] if args.upgrade else [])]
        if subprocess.run(command, cwd=APP_ROOT).returncode != 0:
            return 1
        print(f"locked {lock}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
