"""The uWSGI command line that serves the web app, sized by app config (`python -m {{ cookiecutter.app_name }} serve`
runs it; so does the local stack)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..config import Settings

UWSGI_INI = "uwsgi.ini"
METRICS_FOLDER = "web-metrics"  # under the state folder: where the web processes count their metrics


def shared_metrics(settings: Settings) -> dict[str, str]:
    """The environment uWSGI must start with for its processes to sum their metrics (metrics.py): an empty folder,
    so that counts of an earlier run do not add up. It must be in the environment uWSGI starts with: uWSGI's own
    `--env` comes after Python has read its environment."""
    folder = settings.state_dir / METRICS_FOLDER / settings.environment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(folder)}


def uwsgi_command(settings: Settings, port: int, host: str = "0.0.0.0") -> list[str]:
    """No body limit in uWSGI: it would drop the connection unanswered (and it reads the body before the app could
    refuse it). The app refuses an upload over max_upload_mb by its Content-Length, before reading it, with a 413."""
    uwsgi = shutil.which("uwsgi", path=str(Path(sys.executable).parent)) or "uwsgi"
    return [
        uwsgi,
        "--ini",
        str(settings.root / UWSGI_INI),
        "--http-socket",
        f"{host}:{port}",
        "--processes",
        str(settings.app.processes),
        "--threads",
        str(settings.app.threads),
    ]
