"""The commands that talk to a running app through its API: send it corrected rows, have it retrain.

`python -m {{ cookiecutter.app_name }} online-learning | retrain-in-cloud`, and local/online_learning.py and
local/retrain_in_cloud.py. They work against the app on this machine (run-server) or a deployed one (--url).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..config import load_settings
from ..laptop.client import AppClient
from .command import EXIT_FIX_FIRST, EXIT_KEPT_CHAMPION, EXIT_OK, CommandParser, prog, run

LOCAL_APP = "http://127.0.0.1:5001"
DEFAULT_CSV = Path("data/dataset_2.csv")


def client_parser(command: str, description: str) -> CommandParser:
    parser = CommandParser(prog=prog(command), description=description)
    parser.add_argument("--url", default=LOCAL_APP, help=f"the app (default {LOCAL_APP}: run-server's)")
    parser.add_argument("--api-key", default=None, help="default: API_KEY, else the environment's api_key")
    return parser


def app_client(args: argparse.Namespace) -> AppClient:
    return AppClient(args.url, args.api_key or load_settings(args.environment).api_key)


def online_learning_command(argv: Sequence[str] | None = None) -> int:
    parser = client_parser(
        "online-learning",
        "Send corrected rows to a running app's /train: they are checked, appended, and a retrain is queued.",
    )
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV, help=f"default {DEFAULT_CSV}")

    def command(args: argparse.Namespace) -> int:
        queued = app_client(args).train(args.csv)  # an AppError, the app's own message, exits with 2
        print(f"Added {queued['rows_added']} rows from {args.csv}; retrain job {queued['job_id']} is queued.")
        if queued["ignored_columns"]:
            print(f"Ignored columns the table does not have: {queued['ignored_columns']}")
        print(f"Follow it with: {prog('retrain-in-cloud')} --job {queued['job_id']} --url {args.url}")
        return EXIT_OK

    return run(command, parser, argv)


def retrain_in_cloud_command(argv: Sequence[str] | None = None) -> int:
    parser = client_parser(
        "retrain-in-cloud", "Ask a running app to retrain on its data as it is, follow the job, and print the report."
    )
    parser.epilog = "Exit codes as retrain: 0 promoted, 3 kept the champion, 2 the app refused or the retrain failed."
    parser.add_argument("--job", default=None, help="follow this job (say, online-learning's) instead of starting one")

    def command(args: argparse.Namespace) -> int:
        client, last_stage = app_client(args), None

        def progress(job: dict) -> None:
            nonlocal last_stage
            if job["stage"] != last_stage:
                print(f"  {job['progress']:4.0%}  {job['stage'] or job['state']}", flush=True)
                last_stage = job["stage"]

        job_id = args.job or client.retrain()["job_id"]
        print(f"Following retrain job {job_id}")
        job = client.follow(job_id, progress)
        if job["state"] == "failed":
            print(f"Retrain failed: {job['message']}", file=sys.stderr)
            return EXIT_FIX_FIRST
        report = job["report"]
        verdict = "Promoted" if report["promoted"] else "Kept the champion; not promoted:"
        print(f"{verdict} v{report['challenger_version']} in [{report['environment']}]: {report['reason']}")
        return EXIT_OK if report["promoted"] else EXIT_KEPT_CHAMPION

    return run(command, parser, argv)
