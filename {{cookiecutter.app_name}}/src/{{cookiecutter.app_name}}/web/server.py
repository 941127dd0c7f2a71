"""The uWSGI command line that serves the web app, sized by app config (`python -m {{ cookiecutter.app_name }} serve`
runs it; so does the local stack)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..config import Settings

UWSGI_INI = "uwsgi.ini"


def uwsgi_command(settings: Settings, port: int, host: str = "0.0.0.0") -> list[str]:
    upload_bytes = int(settings.app.max_upload_mb * 1024 * 1024)
    uwsgi = shutil.which("uwsgi", path=str(Path(sys.executable).parent)) or "uwsgi"
    return [
        uwsgi,
        "--ini", str(settings.root / UWSGI_INI),
        "--http-socket", f"{host}:{port}",
        "--processes", str(settings.app.processes),
        "--threads", str(settings.app.threads),
        # A little above the app's own limit, so the app answers 413 with a message rather than uWSGI.
        "--limit-post", str(upload_bytes + 1024 * 1024),
    ]  # fmt: skip
