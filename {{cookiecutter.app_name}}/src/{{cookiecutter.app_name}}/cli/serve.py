"""The commands that run the app's processes: `serve` (uWSGI alone: the image's command), `run-server` (the whole
app on this machine: Redis, a worker and uWSGI) and `bigquery-emulator` (the BigQuery API, for laptops and tests).

`python -m {{ cookiecutter.app_name }} serve | run-server | bigquery-emulator`; local/run_server.py.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..config import FixFirstError, child_environment, load_settings
from .command import EXIT_OK, CommandParser, prog, run


def serve_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("serve"),
        description="Serve the web app with uWSGI, sized by app config "
        "(processes, threads, max_upload_mb). Retrains need REDIS_URL and a worker: for all of "
        f"it on this machine, use `{prog('run-server')}`.",
    )
    parser.add_argument("--port", type=int, default=None, help="default: PORT, else 5001")
    parser.add_argument("--host", default="0.0.0.0")

    def command(args: argparse.Namespace) -> int:
        from ..web.server import shared_metrics, uwsgi_command

        settings = load_settings(args.environment)
        uwsgi = uwsgi_command(settings, args.port or settings.variables.port or 5001, args.host)
        # uWSGI takes this process's place: signals reach it as they would the image's
        os.execve(uwsgi[0], uwsgi, child_environment(shared_metrics(settings)))
        return EXIT_OK

    return run(command, parser, argv)


def stop_like_ctrl_c(signal_number: int, frame) -> None:
    raise KeyboardInterrupt  # unwinds through the context managers, which stop every process they started


def stop_on_ctrl_c_kill_or_hangup() -> None:
    """Ctrl-C, `kill` and a closed terminal all stop a launcher the same way. SIGINT too: Python leaves Ctrl-C ignored
    where the parent ignored it, as a shell does for a job it puts in the background."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, stop_like_ctrl_c)


def run_server_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("run-server"),
        description="Run the whole app on this machine: the web app "
        "(uWSGI), a Celery worker, and Redis if REDIS_URL is unset. Ctrl-C stops all of them, and "
        "so does `kill` (SIGTERM) or closing the terminal (SIGHUP).",
    )
    parser.add_argument("--port", type=int, default=5001)

    def command(args: argparse.Namespace) -> int:
        from ..laptop.stack import local_stack

        stop_on_ctrl_c_kill_or_hangup()
        settings = load_settings(args.environment)
        if not settings.redis_url:
            print("REDIS_URL is not set: starting an embedded Redis.", flush=True)
        try:
            with local_stack(settings, args.port) as stack:
                print(
                    f"Paste the following into your browser to access the app:\n\n"
                    f"[{stack.url}?api_key={settings.api_key}]\n",
                    flush=True,
                )
                while not stack.stopped():
                    time.sleep(0.5)
                print(f"{', '.join(stack.stopped())} stopped; stopping the rest.", file=sys.stderr)
                return 1
        except KeyboardInterrupt:
            return EXIT_OK

    return run(command, parser, argv)


def bigquery_emulator_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("bigquery-emulator"),
        description="Serve the BigQuery API on this machine "
        "until Ctrl-C, for trying data_source: bigquery without a cloud account.",
    )
    parser.add_argument(
        "data_dir",
        nargs="?",
        type=Path,
        default=Path(".app_state/bigquery"),
        help="where its tables are kept (default .app_state/bigquery)",
    )

    def command(args: argparse.Namespace) -> int:
        from ..laptop.bigquery_emulator import bigquery_emulator, python_3_13

        stop_on_ctrl_c_kill_or_hangup()
        python = python_3_13()
        if python is None:
            raise FixFirstError("the BigQuery emulator needs Python 3.13: install it, or set BIGQUERY_EMULATOR_PYTHON")
        data_dir = args.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        with bigquery_emulator(python, data_dir) as emulator:
            exports = "".join(f"  export {name}={value}\n" for name, value in emulator.variables.items())
            print(
                f"BigQuery emulator on {emulator.endpoint}, data in {data_dir}. In another shell:\n{exports}"
                "Ctrl-C stops it.",
                flush=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return EXIT_OK

    return run(command, parser, argv)
