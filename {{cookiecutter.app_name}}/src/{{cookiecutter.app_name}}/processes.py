"""Helper servers started on this machine (the embedded Redis, the BigQuery emulator): a port, and the wait."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_started(
    server: subprocess.Popen,
    probe: Callable[[], object],
    refused: type[Exception] | tuple[type[Exception], ...],
    timeout: float,
    failure: Callable[[], str],
) -> None:
    """Call `probe` until it stops raising `refused`; a RuntimeError saying `failure()` if the server exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except refused:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(failure()) from None
            time.sleep(0.05)
