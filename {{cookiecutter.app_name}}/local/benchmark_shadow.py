"""Measure what shadow traffic costs production: single JSON rows at its /predict from 32 connections (wrk), with no
shadow and with a shadow taking every request (shadow_share 1.0), in alternating runs; then how many of the mirrored
requests the shadow report counts, and a run during which the shadow's service is stopped.

    python local/benchmark_shadow.py [--connections 32] [--seconds 10] [--runs 3]

Works in a temporary folder of its own, on the models `make demo` makes: integration serves v1 (the first load), and
challenger pr-1, copied from it, serves what it trains once the second load has arrived; pr-1's config says
`shadow_of: integration`. Both run as a deployment runs them (uWSGI, a worker, a Redis each) on this machine, the
shadow's processes on other cores than production's (in a cluster they run on other nodes): production's processes
on the first half of this machine's cores, the shadow's and wrk's on the other half, the shadow's at the lowest CPU
priority, below wrk's. Needs wrk (apt/brew install wrk) and at least two cores.
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis
import yaml
from benchmark_serving import API_KEY, Server, wrk_figures, wrk_report

from {{ cookiecutter.app_name }}.comparison.shadow import shadow_report
from {{ cookiecutter.app_name }}.config import environment_config_path, load_settings
from {{ cookiecutter.app_name }}.datastore import conform, infer_schema, open_datastore, open_journal, read_csv
from {{ cookiecutter.app_name }}.environments import create_challenger
from {{ cookiecutter.app_name }}.laptop.stack import local_stack
from {{ cookiecutter.app_name }}.monitoring.prediction_log import drain
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port
from {{ cookiecutter.app_name }}.registry import Shadow, open_registry

SHADOW = "pr-1"
# The shadow's processes run on other cores than production's, as in a cluster they run on other nodes: sharing them,
# the figures would be the shadow's work, not what mirroring costs production. They share wrk's, below its priority.
SHADOW_NICENESS = 19
SETTLE_TIMEOUT_SECONDS = 60


def app_folder(folder: Path) -> Path:
    """A copy of the app's config whose web processes check the registry every second, so that a shadow recorded or
    forgotten between runs is seen within the next run's warm-up."""
    root = folder / "app"
    shutil.copytree("config", root / "config")
    shutil.copy("uwsgi.ini", root / "uwsgi.ini")
    config = root / "config" / "app_config.yml"
    config.write_text(config.read_text() + "\nmodel_refresh_seconds: 1\n")
    shadowed = root / "config" / "environment_integration.yml"  # logging as production's does, not integration's
    shadowed.write_text(yaml.safe_dump({**yaml.safe_load(shadowed.read_text()), "log_level": "INFO"}))
    return root


def split_cores() -> tuple[set[int], set[int]]:
    """This machine's cores in two halves: production's, and the shadow's and the load generator's."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("the shadow and production need a core each: this machine has one")
    return set(cores[: len(cores) // 2]), set(cores[len(cores) // 2 :])


def requests_made(report: str) -> int:
    return int(re.search(r"(\d+) requests in", report).group(1))


def socket_errors(report: str) -> str | None:
    found = re.search(r"Socket errors: (.*)", report)
    return found.group(1) if found else None


def settle(client: redis.Redis, settings) -> None:
    """Wait until production's processes have sent every mirrored request and the log holds them in the journal."""
    journal, quiet, deadline = open_journal(settings, "predictions"), 0, time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while quiet < 3 and time.monotonic() < deadline:  # three drains in a row, a second apart, found nothing new
        quiet = quiet + 1 if drain(client, journal, settings.environment) == 0 else 0
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3, help="runs without the shadow, and as many with it")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (or brew install wrk)")
    with tempfile.TemporaryDirectory() as folder:
        root = app_folder(Path(folder))
        settings = dataclasses.replace(load_settings("integration", root=root).with_state_dir(Path(folder) / "state"),
                                       api_key=API_KEY)  # fmt: skip
        registry = open_registry(settings)
        first, second = read_csv("data/dataset_1.csv"), read_csv("data/dataset_2.csv")
        store = open_datastore(settings)
        store.create(infer_schema(first, settings.app.time_formats))
        store.append(first)
        retrain(settings=settings)
        create_challenger(settings, SHADOW, "integration")
        open_datastore(settings, SHADOW).append(second)
        retrain(settings=settings.for_environment(SHADOW))
        path = environment_config_path(root, SHADOW)
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "shadow_of": "integration",
                                        "shadow_share": 1.0}))  # fmt: skip
        shadow_settings = settings.for_environment(SHADOW)
        versions = {"production": registry.champion_version("integration"), "shadow": registry.champion_version(SHADOW)}
        print(f"production (integration) serves v{versions['production']}, the shadow ({SHADOW}) v{versions['shadow']}")

        schema = registry.version(versions["production"]).input_schema
        record = json.loads(conform(second.head(1), schema, ignore_extra=True).to_json(orient="records",
                                                                                       date_format="iso"))  # fmt: skip
        production_cores, other_cores = split_cores()
        os.sched_setaffinity(0, other_cores)  # the processes a stack starts, and wrk, run where their starter does
        shadow_stack = local_stack(shadow_settings, free_port())
        started = shadow_stack.__enter__()  # records the shadow: it is forgotten and recorded between runs
        for process in started.processes.values():  # each part, with every process it started
            os.setpriority(os.PRIO_PGRP, os.getpgid(process.pid), SHADOW_NICENESS)
        shadow_url = started.url
        recorded = Shadow(SHADOW, "integration", 1.0, shadow_url)
        os.sched_setaffinity(0, production_cores)
        with local_stack(settings, free_port()) as production:
            os.sched_setaffinity(0, other_cores)
            app = Server("production", int(production.url.rsplit(":", 1)[1]), "/predict",
                         json.dumps({"records": record}).encode(), b"", "")  # fmt: skip
            log = redis.Redis.from_url(production.redis_url)
            p99s: dict[str, list[float]] = {"without": [], "with": []}
            mirrored = counted = 0
            for _ in range(args.runs):
                for mode in ("without", "with"):
                    if mode == "with":
                        registry.record_shadow(recorded)
                    else:
                        registry.forget_shadow(SHADOW)
                    wrk_report(app, args.connections, 2)  # each process checks the registry, and warms up
                    settle(log, settings)
                    before = shadow_report(shadow_settings, registry).requests if mode == "with" else 0
                    report = wrk_report(app, args.connections, args.seconds)
                    p99s[mode].append(wrk_figures(report)[2])
                    if mode == "with":
                        settle(log, settings)
                        mirrored += requests_made(report)
                        counted += shadow_report(shadow_settings, registry).requests - before
                    print(f"{mode} the shadow: {requests_made(report):,} requests, p99 {p99s[mode][-1]:.1f} ms, "
                          f"socket errors: {socket_errors(report) or 'none'}", flush=True)  # fmt: skip

            # The shadow's service stops a third of the way into a run: production answers every request regardless.
            registry.record_shadow(recorded)
            wrk_report(app, args.connections, 2)
            stopper = threading.Timer(args.seconds / 3, shadow_stack.__exit__, (None, None, None))
            stopper.start()
            stopped_run = wrk_report(app, args.connections, args.seconds)  # raises on any failed request
            stopper.join()
            _, _, stopped_p99 = wrk_figures(stopped_run)

        without, with_shadow = statistics.median(p99s["without"]), statistics.median(p99s["with"])
        print(
            f"\n{settings.app.processes} web processes each, {args.connections} connections, {args.seconds:g} s runs; "
            f"production on cores {sorted(production_cores)}, the shadow and wrk on {sorted(other_cores)}"
        )
        print(f"p99 without the shadow: {without:.1f} ms (runs: {', '.join(f'{p:.1f}' for p in p99s['without'])})")
        print(f"p99 with it (share 1.0): {with_shadow:.1f} ms ({(with_shadow - without) / without:+.1%}; "
              f"runs: {', '.join(f'{p:.1f}' for p in p99s['with'])})")  # fmt: skip
        print(f"mirrored requests the shadow report counts: {counted:,} of {mirrored:,} ({counted / mirrored:.1%})")
        print(f"the shadow stopped a third into a run: {requests_made(stopped_run):,} requests, none failed "
              f"(socket errors: {socket_errors(stopped_run) or 'none'}), p99 {stopped_p99:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
