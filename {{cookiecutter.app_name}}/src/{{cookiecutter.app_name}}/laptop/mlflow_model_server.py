"""MLflow's own model server (`mlflow models serve`) for a registered version, in a venv that holds only what the
model's requirements.txt lists: how any MLflow tool would serve it, without this app installed. For the test that
shows a model travels on its own, and the benchmark that serves the same version both ways."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from ..config import child_environment, read_variables
from ..deploy.tools import uv
from ..processes import free_port, start_in_own_group, stop_groups, wait_until_started

START_TIMEOUT_SECONDS = 180


def model_venv(requirements: Path) -> Path:
    """A venv of this Python with only `requirements` installed (made once per set of requirements, in the user's
    cache folder); its Python."""
    cache = Path(read_variables().xdg_cache_home or Path.home() / ".cache") / "mlflow-model-venvs"
    venv = cache / hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:12]
    python = venv / "bin" / "python"
    complete = venv / ".complete"  # written last: a venv without it was interrupted and is made again
    if not complete.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [uv(), "pip", "install", "--quiet", "--python", str(python), "--requirement", str(requirements)], check=True
        )
        complete.touch()
    return python


@contextmanager
def mlflow_model_server(
    model_uri: str, tracking_uri: str, requirements: Path, log: Path, workers: int = 1
) -> Iterator[str]:
    """Serve `model_uri` (e.g. models:/<model>@integration) with MLflow's server in the model's own venv; yield its
    URL (POST /invocations); stop it."""
    python = model_venv(requirements)
    port = free_port()
    # The venv's bin first on PATH: the server starts its uvicorn by name. No PYTHONPATH: nothing of this app's.
    environment = child_environment({"MLFLOW_TRACKING_URI": tracking_uri}, path_first=python.parent)
    environment.pop("PYTHONPATH", None)
    with log.open("wb") as output:
        server = start_in_own_group(
            [
                str(python.parent / "mlflow"),
                "models",
                "serve",
                "--model-uri",
                model_uri,
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_started(
            server,
            lambda: requests.get(f"{url}/ping", timeout=2).raise_for_status(),
            requests.RequestException,  # not listening yet, or not ready
            START_TIMEOUT_SECONDS,
            lambda: f"mlflow models serve did not start:\n{log.read_text()[-3000:]}",
        )
        yield url
    finally:
        stop_groups([server], signal.SIGTERM, grace_seconds=30)
