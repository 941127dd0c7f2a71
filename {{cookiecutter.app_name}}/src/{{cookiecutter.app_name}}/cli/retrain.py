"""`python local_retrain.py` and `python -m {{ cookiecutter.app_name }} retrain`: train a challenger, promote it if better."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tabulate import tabulate

from ..config import ConfigError, Settings, load_settings
from .command import EXIT_KEPT_CHAMPION, EXIT_OK, CommandParser, prog, run

if TYPE_CHECKING:
    from ..pipeline import RetrainReport
    from ..registry import ModelVersion


def retrain_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("retrain"),
        description="Fetch the environment's data, train a challenger, score it and the champion on the same "
        "held-out rows, and promote the challenger only if it is better.",
        epilog="Exit codes: 0 promoted, 3 kept the champion, 2 something to fix first (the message says what).",
    )

    def command(args: argparse.Namespace) -> int:
        from ..pipeline import retrain
        from ..registry import open_registry

        settings = load_settings(args.environment)
        print(f"Retraining [{settings.app.model_name}] in environment [{settings.environment}]")
        last_stage = None

        def progress(stage: str, fraction: float) -> None:
            nonlocal last_stage
            if stage != last_stage:
                print(f"  {fraction:4.0%}  {stage}", flush=True)
                last_stage = stage

        with running_alone(settings):
            report = retrain(settings=settings, progress=progress)
        print(describe(report))
        print(f"\nModel versions of [{settings.app.model_name}]:")
        print(leaderboard(open_registry(settings).versions()))
        return EXIT_OK if report.promoted else EXIT_KEPT_CHAMPION

    return run(command, parser, argv)


@contextmanager
def running_alone(settings: Settings) -> Iterator[None]:
    """With REDIS_URL, take the environment's turn as the worker's retrains do, so that this run is compared with,
    and replaces, the champion of its time; without, run at once (a laptop with no app running)."""
    if not settings.redis_url:
        yield
        return
    import redis

    from ..worker.queue import REDIS_RESTART_SECONDS, RunningClaims, redis_client

    claims = RunningClaims(redis_client(settings.redis_url, REDIS_RESTART_SECONDS))
    on_wait = lambda: print(f"Another retrain of [{settings.environment}] is running: waiting for it", flush=True)  # noqa: E731
    try:
        with claims.running_alone(settings.environment, f"command-line-{uuid.uuid4().hex}", on_wait):
            yield
    except redis.ConnectionError as error:
        raise ConfigError(
            f"the Redis at REDIS_URL could not be reached ({error}); unset it to retrain alone"
        ) from error


def describe(report: RetrainReport) -> str:
    if report.promoted:
        outcome = f"Promoted v{report.challenger_version} to [{report.environment}]."
    else:
        serving = report.serving_version
        kept = (
            f"Kept v{serving} in [{report.environment}]"
            if serving is not None
            else f"No model serves [{report.environment}]"
        )
        status = "passed the gate but was not promoted" if report.passed else "is registered as failed"
        outcome = f"{kept}; v{report.challenger_version} {status}."
    seconds = ", ".join(f"{stage} {value:.1f}s" for stage, value in report.seconds.items())
    searched_on = ""
    if report.engine == "dask":
        searched_on = (
            f" on a sample of {report.search_rows} rows; then fitted on all of them by {report.dask_workers} Dask "
            f"workers ({report.engine_reason})"
        )
    return (
        f"{outcome}\n"
        f"  why: {report.reason}\n"
        f"  scored on the same {report.test_rows} held-out rows, {report.compared_on}\n"
        f"  held out: {report.held_out_rows} rows, {report.holdout}; trained on the other {report.training_rows}\n"
        f"  search: {report.models_tried} models tried ({report.search_stopped_because}){searched_on}\n"
        f"  model: {report.trees} trees, {report.predict_ms_per_1000_rows} ms to predict 1,000 rows on one thread\n"
        f"  time: {seconds}"
    )


def leaderboard(versions: Sequence[ModelVersion]) -> str:
    rows = [
        [
            f"v{v.version}",
            "" if v.score is None else f"{v.score:.4f}",
            v.score_type,
            "" if v.champion_score is None else f"{v.champion_score:.4f}",
            "passed" if v.passed else "failed",
            v.training_rows,
            v.test_rows,
            v.trees,
            "" if v.predict_ms_per_1000_rows is None else f"{v.predict_ms_per_1000_rows:.1f}",
            v.environment,
            v.created.strftime("%Y/%m/%d %H:%M:%S"),
            v.created_by,
            ", ".join(v.serving),
        ]
        for v in versions
    ]
    headers = [
        "version",
        "score",
        "score_type",
        "champion score",
        "gate",
        "train rows",
        "scored on",
        "trees",
        "ms/1000 rows",
        "trained in",
        "created",
        "created_by",
        "serving",
    ]
    return tabulate(rows, headers=headers, tablefmt="grid")
