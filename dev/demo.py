"""`make demo`: bake the default app, load the first data, retrain, load corrected data, retrain again.

Everything happens in build/demo/ with the app's own venv; both leaderboards are printed.
    python dev/demo.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dev.app_venv import app_python  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[1]
SCRATCH = TEMPLATE / "build" / "demo"
EXIT_PROMOTED = 0


def step(title: str, python: Path, app: Path, *args: str) -> int:
    print(f"\n=== {title}\n$ python {' '.join(args)}", flush=True)
    return subprocess.run([str(python), *args], cwd=app).returncode


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    app = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(SCRATCH)))
    print(f"Baked the default app into {app.relative_to(TEMPLATE)}; preparing its venv ...", flush=True)
    python = app_python(app)
    steps = [
        ("Create the integration table", ["local/create_database.py"], 0),
        ("Load the first period: data/dataset_1.csv", ["local/upload_data.py", "data/dataset_1.csv"], 0),
        ("Train the first model (v1)", ["local_retrain.py"], EXIT_PROMOTED),
        ("Corrected data arrives: append data/dataset_2.csv", ["local/upload_data.py", "data/dataset_2.csv"], 0),
        (
            "Retrain: the challenger (v2) meets the champion (v1) on the same held-out rows",
            ["local_retrain.py"],
            EXIT_PROMOTED,
        ),
    ]
    for title, args, expected in steps:
        code = step(title, python, app, *args)
        if code != expected:
            print(
                f"\nDemo stopped: `python {' '.join(args)}` exited with {code}, expected {expected}.", file=sys.stderr
            )
            return 1
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s. The app is in {app}: cd there and read README.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
