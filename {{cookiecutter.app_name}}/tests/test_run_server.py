"""local/run_server.py as a person uses it: it starts the whole app, and every usual way of stopping it stops all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from {{ cookiecutter.app_name }}.processes import free_port

from .support.data import APP_ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(os.environ.get("APP_URL")), reason="tests the laptop launcher, not a deployed app"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the started processes in Linux's /proc"),
]
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 60


def parent_of_every_process() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # a process that ended while we looked
            continue
    return parents


def descendants(pid: int) -> set[int]:
    parents, found, newest = parent_of_every_process(), set(), {pid}
    while newest:
        newest = {child for child, parent in parents.items() if parent in newest} - found
        found |= newest
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its exit status is left to collect


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "(ended)"


def wait_for(condition, timeout: float, what: str | Callable[[], str]):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.2)
    return result


@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_run_server_serves_the_page_and_stopping_it_stops_everything_it_started(tmp_path, stop):
    port, log = free_port(), tmp_path / "run_server.log"
    env = {**os.environ, "APP_STATE_DIR": str(tmp_path / "state"), "API_KEY": "launcher-key"}
    env.pop("REDIS_URL", None)  # as on a fresh laptop: it starts its own Redis
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "local/run_server.py", "--port", str(port)],
            cwd=APP_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        address = f"http://127.0.0.1:{port}?api_key=launcher-key"
        wait_for(lambda: address in log.read_text() or server.poll() is not None, START_TIMEOUT_SECONDS,
                 "run_server did not print the address")  # fmt: skip
        assert server.poll() is None, log.read_text()[-3000:]
        assert requests.get(address, timeout=30).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/models?api_key=a-wrong-secret", timeout=30).status_code == 401
        # uWSGI logs a request after answering it: wait for the line rather than count on it before a stop.
        wait_for(lambda: "GET /models => 401" in log.read_text(), START_TIMEOUT_SECONDS,
                 lambda: f"the refused request was not logged:\n{log.read_text()[-3000:]}")  # fmt: skip
        started = {pid: command_line(pid) for pid in descendants(server.pid)}
        assert len(started) >= 4, "expected Redis, a Celery worker, and uWSGI with its web processes"

        if stop == "ctrl-c":
            os.killpg(server.pid, signal.SIGINT)  # a terminal sends Ctrl-C to the whole foreground group
        else:
            server.send_signal(signal.SIGTERM)  # `kill PID` reaches the launcher alone

        try:
            stopped_with = server.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run_server still ran {STOP_TIMEOUT_SECONDS} s after {stop}:\n{log.read_text()[-3000:]}")
        assert stopped_with == 0, log.read_text()[-3000:]
        left = lambda: [command for pid, command in started.items() if running(pid)]  # noqa: E731
        wait_for(
            lambda: not left(), STOP_TIMEOUT_SECONDS, lambda: f"still running after the launcher stopped: {left()}"
        )
        with pytest.raises(requests.ConnectionError):
            requests.get(address, timeout=5)
        logged = log.read_text()
        assert "a-wrong-secret" not in logged  # no key in the log
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group, even when the launcher has gone
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
