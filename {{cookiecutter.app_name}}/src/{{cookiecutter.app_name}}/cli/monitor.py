"""`python -m {{ cookiecutter.app_name }} monitor`: a drift and score report on the champion, as the worker makes one on
monitor_schedule."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tabulate import tabulate

from ..config import load_settings
from .command import EXIT_OK, CommandParser, prog, run


def monitor_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("monitor"),
        description="Report on the environment's champion: drift of the logged prediction inputs against the "
        "training rows, its score on rows labelled since it was trained, and the rows added since. With REDIS_URL "
        "(a running app), the logged predictions are taken in first, and a retrain is queued if retrain_when in "
        "app config says so. The report is kept with the environment's others.",
    )

    def command(args: argparse.Namespace) -> int:
        from ..monitoring.reports import run_monitor
        from ..registry import open_registry

        settings = load_settings(args.environment)
        redis_client = enqueue = None
        if settings.redis_url:
            from ..worker.celery_app import make_celery
            from ..worker.queue import REDIS_RESTART_SECONDS, RetrainQueue
            from ..worker.queue import redis_client as connect

            redis_client = connect(settings.redis_url, REDIS_RESTART_SECONDS)
            queue = RetrainQueue(make_celery(settings), redis_client, settings.app.retrain_time_limit_minutes * 60)

            def enqueue(environment: str, reason: str, trigger: str) -> str:
                return queue.enqueue(environment, reason, trigger)[0]

        report = run_monitor(settings, open_registry(settings), redis_client, enqueue)
        print(describe(report))
        return EXIT_OK

    return run(command, parser, argv)


def describe(report) -> str:
    def number(value, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"Monitor of [{report.environment}] at {report.checked_at} UTC"]
    if report.champion_version is None:
        return "\n".join([*lines, *report.notes])
    lines.append(f"Champion v{report.champion_version}")
    if report.drift:
        rows = [
            [c["column"], c["test"], number(c["statistic"]), c["threshold"], "yes" if c["drifted"] else "no"]
            for c in report.drift
        ]
        lines += [
            f"\nDrift of {report.predictions} logged predictions against {report.reference_rows} training rows: "
            f"{report.drift_share:.0%} of the columns drifted",
            tabulate(rows, headers=["column", "test", "statistic", "threshold", "drifted"]),
        ]
    lines.append(
        f"\n{report.score_type}: {number(report.registered_score)} when registered; "
        f"{number(report.labelled_score)} on {report.labelled_rows} rows labelled since "
        f"(drop {number(report.score_drop)})"
    )
    if report.new_rows is not None:
        lines.append(f"Rows added since it was trained: {report.new_rows} (of {report.table_rows})")
    if report.triggers:
        lines.append(f"retrain_when met: {', '.join(report.triggers)}")
    if report.retrain_job:
        lines.append(f"Retrain queued: job {report.retrain_job}")
    return "\n".join([*lines, *report.notes])
