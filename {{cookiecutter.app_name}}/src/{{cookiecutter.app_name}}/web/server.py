"""Serve the web app with uWSGI, sized by app config: `python -m {{ cookiecutter.app_name }}.web.server [--port 5001]`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from ..config import Settings, load_settings

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5001")))
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args()
    command = uwsgi_command(load_settings(), args.port, args.host)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
