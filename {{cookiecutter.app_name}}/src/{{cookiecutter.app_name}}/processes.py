"""Processes started on this machine (the local stack, the embedded Redis, the BigQuery emulator, a port-forward):
a free port, the wait until one answers, and a stop that leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence


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


def start_in_own_group(command: Sequence[str], **popen_options) -> subprocess.Popen:
    """Start `command` as the leader of a new process group, so that `stop_groups` can end it with everything it
    forks, and so that a terminal's Ctrl-C reaches only our launcher, which then stops each part once, in order."""
    return subprocess.Popen(command, start_new_session=True, **popen_options)


def stop_groups(processes: Iterable[subprocess.Popen], stop_signal: int, grace_seconds: float) -> None:
    """Send `stop_signal` to each leader started by `start_in_own_group`; once it has exited, or after
    `grace_seconds`, kill whatever is left of its group (a worker its master did not wait for)."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(stop_signal)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):  # the group has already emptied
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
