"""The whole app on one machine: Redis (embedded unless REDIS_URL is set), a Celery worker, and uWSGI.

Used by local/run_server.py and by the integration tests, so both run exactly what a deployment runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial

import requests

from ..config import APP_NAME, Settings, child_environment
from ..environments.shadows import record_shadow
from ..processes import start_in_own_group, stop_groups
from ..registry import open_registry
from ..web.server import shared_metrics, uwsgi_command
from .embedded_redis import EmbeddedRedis, running_redis

READY_TIMEOUT_SECONDS = 60
STOP_GRACE_SECONDS = 30


@dataclass
class Stack:
    url: str
    redis_url: str
    processes: dict[str, subprocess.Popen]
    embedded_redis: EmbeddedRedis | None = None  # None when REDIS_URL names a Redis of your own
    starters: dict[str, Callable[[], subprocess.Popen]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # what each part is started with: a command run beside them

    def stopped(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def restart(self, name: str, stop_signal: int = signal.SIGKILL) -> None:
        """Stop one part with everything it started (SIGKILL: at once, as when its node dies) and start it again."""
        stop_groups([self.processes[name]], stop_signal, STOP_GRACE_SECONDS)
        self.processes[name] = self.starters[name]()


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "--app", f"{APP_NAME}.worker.tasks", *args]


@contextmanager
def local_stack(settings: Settings, port: int, log_folder=None, probe_port: int | None = None) -> Iterator[Stack]:
    """Start everything, wait until the web app answers, yield; stop everything on the way out. With `probe_port`,
    each web process also answers the probes there (PROBE_PORT), as in the cluster."""
    open_registry(settings).prepare()  # before the web processes and the worker all open it at once
    with ExitStack() as stack:
        # A Redis and metrics folder per environment: a shadow's stack can run beside the one it shadows.
        redis_folder = settings.state_dir / "redis" / settings.environment
        embedded = None if settings.redis_url else stack.enter_context(running_redis(redis_folder))
        redis_url = settings.redis_url or embedded.url
        env = child_environment(
            {
                "REDIS_URL": redis_url,
                "APP_ENVIRONMENT": settings.environment,
                "APP_ROOT": str(settings.root),
                "APP_STATE_DIR": str(settings.state_dir),
                "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
                "DUCKDB_PATH": str(settings.duckdb_path),
                "API_KEY": settings.api_key,
                **({"PROBE_PORT": str(probe_port)} if probe_port else {}),
                **shared_metrics(settings),  # the web processes' (the worker and beat count none)
            }
        )
        commands = {
            "worker": celery_command(
                "worker", "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip"
            ),
            "web": uwsgi_command(settings, port, host="127.0.0.1"),
        }
        if settings.app.runs_beat:
            schedule = settings.state_dir / f"celerybeat-schedule-{settings.environment}"
            commands["beat"] = celery_command("beat", "--schedule", str(schedule))
        processes: dict[str, subprocess.Popen] = {}
        # SIGINT: uWSGI in a venv re-executes itself badly on SIGTERM; Celery takes either for a warm stop.
        stack.callback(lambda: stop_groups(processes.values(), signal.SIGINT, STOP_GRACE_SECONDS))
        starters = {}
        for name, command in commands.items():
            log = None if log_folder is None else stack.enter_context(open(log_folder / f"{name}.log", "wb"))
            starters[name] = partial(
                start_in_own_group, command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
            processes[name] = starters[name]()
        running = Stack(f"http://127.0.0.1:{port}", redis_url, processes, embedded, starters, env)
        wait_until_ready(running)
        record_shadow(settings, open_registry(settings), running.url)  # where a shadow (shadow_of) answers
        yield running


def wait_until_ready(stack: Stack) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if stack.stopped():
            raise RuntimeError(f"{', '.join(stack.stopped())} stopped while starting")
        try:
            # Ready once a web process has imported the app and learnt from the registry which model to serve.
            if requests.get(f"{stack.url}/ready", timeout=READY_TIMEOUT_SECONDS).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the web app was not ready at {stack.url}/ready within {READY_TIMEOUT_SECONDS} s")
        time.sleep(0.2)
