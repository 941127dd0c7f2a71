"""Faults in production, with the real processes (uWSGI, a Celery worker, Redis, an MLflow tracking server): the app
keeps serving, loses nothing and promotes nothing by accident. Each takes minutes: `pytest -m faults`."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import http.server
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import redis
import requests
import yaml
from celery import Celery

from {{ cookiecutter.app_name }}.cli.command import EXIT_KEPT_CHAMPION, EXIT_OK
from {{ cookiecutter.app_name }}.config import APP_NAME, Settings, app_config_path, load_settings
from {{ cookiecutter.app_name }}.datastore import open_datastore
from {{ cookiecutter.app_name }}.environments.deployments import DeploymentError, move, promote, rollback
from {{ cookiecutter.app_name }}.laptop.client import AppClient
from {{ cookiecutter.app_name }}.laptop.stack import Stack, local_stack
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port, wait_until_started
from {{ cookiecutter.app_name }}.registry import open_registry
from {{ cookiecutter.app_name }}.worker import RETRAIN_TASK
from {{ cookiecutter.app_name }}.worker.celery_app import VISIBILITY_MARGIN_SECONDS
from {{ cookiecutter.app_name }}.worker.queue import MAX_ATTEMPTS, RUNNING_CLAIM_SECONDS, RunningClaims, job_key

from .conftest import FIRST_MODEL_ROWS, TRACKING_SERVER_ENVIRONMENT
from .support.data import APP_ROOT, DATA, data_rows, table_schema
from .test_integration import first_new_record
from .test_run_server import descendants, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(bool(os.environ.get("APP_URL")), reason="starts and breaks the app's processes on this machine"),
]
# Each outage spans 20 of a web process's registry checks (model_refresh_seconds is 1 here); FAULT_OUTAGE_SECONDS=150
# runs a longer one, as an outage of a real tracking server might last.
OUTAGE_SECONDS = float(os.environ.get("FAULT_OUTAGE_SECONDS", 20))
CLIENTS = 32
REQUEST_TIMEOUT_SECONDS = 10
P99_LIMIT_SECONDS = 2
RECOVERY_TIMEOUT_SECONDS = 120
UPLOAD_BYTES = 95 * 1024 * 1024
RETRAIN_TIME_LIMIT_MINUTES = 1
CSV_CLIENTS = 2
REDIS_DOWN_SECONDS = 3  # long enough that the retrain writes its progress meanwhile
CONSISTENT_ANSWERS = 200  # from all web processes


class TrackingServer:
    """`mlflow server` on a SQLite file, as k8s/mlflow.yml runs it, which a test can kill, restart, hang and resume."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "mlflow-server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                   "--artifacts-destination", str(self.folder / "artifacts"), "--workers", "1"]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **TRACKING_SERVER_ENVIRONMENT},
                                            start_new_session=True)  # fmt: skip
        answers = lambda: requests.get(f"{self.url}/health", timeout=1).raise_for_status()  # noqa: E731
        log_end = lambda: self.log.read_text()[-3000:]  # noqa: E731
        wait_until_started(self.process, answers, requests.RequestException, RECOVERY_TIMEOUT_SECONDS, log_end)

    def signal(self, number: int) -> None:
        os.killpg(self.process.pid, number)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    server = TrackingServer(tmp_path_factory.mktemp("tracking"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RegistryProxy:
    """An HTTP proxy in front of the tracking server that passes every request on, except the one a test asks it to
    refuse: the first request to `path` after an alias has moved, refused before it reaches the server or after the
    server has done it (the answer lost on the way back). A registry that fails half-way through a change."""

    ALIAS_MOVE = "/registered-models/alias"
    HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}

    def __init__(self, upstream: str):
        self.upstream, self.rule, self.alias_moved, self.refused = upstream, None, False, []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def refuse_after_alias_move(self, path: str, done_first: bool) -> None:
        self.rule, self.alias_moved = (path, done_first), False

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: pytest shows what failed
                pass

            def forward(self, body: bytes) -> requests.Response:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP_BY_HOP}
                return requests.request(self.command, proxy.upstream + self.path, data=body, headers=headers,
                                        timeout=RECOVERY_TIMEOUT_SECONDS)  # fmt: skip

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                if proxy.rule and proxy.alias_moved and path.endswith(proxy.rule[0]):
                    if proxy.rule[1]:
                        self.forward(body)
                    proxy.refused.append(f"{self.command} {path}")
                    proxy.rule = None
                    error = {"error_code": "PERMISSION_DENIED", "message": "refused by the fault-injecting proxy"}
                    self.answer(403, json.dumps(error).encode(), "application/json")
                    return
                answer = self.forward(body)
                if path.endswith(proxy.ALIAS_MOVE) and self.command == "POST" and answer.ok:
                    proxy.alias_moved = True
                self.answer(answer.status_code, answer.content, answer.headers.get("Content-Type", "text/plain"))

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_one

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclasses.dataclass(frozen=True)
class RunningApp:
    stack: Stack
    settings: Settings
    client: AppClient
    first_version: int
    probe_url: str  # where each web process answers the probes, as in the cluster (PROBE_PORT)
    log_folder: Path

    def stack_log(self, name: str) -> Path:
        return self.log_folder / f"{name}.log"

    def champion(self) -> int | None:
        return self.client.models()["serving"].get(self.settings.environment)

    def wait_until_running(self, job_id: str, running: bool = True) -> None:
        expected = "running" if running else "not running"
        wait_for(lambda: (self.client.job(job_id)["state"] == "running") == running, RECOVERY_TIMEOUT_SECONDS,
                 lambda: f"expected the job to be {expected}: {self.client.job(job_id)}")  # fmt: skip

    def tries(self, job_id: str) -> int:
        return int(redis.Redis.from_url(self.stack.redis_url).hget(job_key(job_id), "attempts") or 0)

    def kill_the_pool_process(self) -> None:
        """What the kernel's OOM killer does to a worker's child that trains on too much data."""
        children = descendants(self.stack.processes["worker"].pid)
        assert children, "the worker has no pool process"
        for pid in children:
            os.kill(pid, signal.SIGKILL)


def app_with_a_short_time_limit(root: Path) -> Path:
    """The app in `root` (links to its files) with a retrain time limit of a minute in a copy of its config: Redis
    hands the job of a dead worker out again that limit and a margin after it took it, and a test cannot wait the
    default half hour."""
    for entry in APP_ROOT.iterdir():
        if entry.name != "config":
            (root / entry.name).symlink_to(entry)
    shutil.copytree(APP_ROOT / "config", root / "config")
    app_config = yaml.safe_load(app_config_path(root).read_text())
    app_config["retrain_time_limit_minutes"] = RETRAIN_TIME_LIMIT_MINUTES
    app_config_path(root).write_text(yaml.safe_dump(app_config))
    return root


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tracking_server: TrackingServer) -> Iterator[RunningApp]:
    """The app started on this machine (uWSGI, a worker, Redis) on a registry behind a tracking server, as in the
    cluster, with a first model."""
    state = tmp_path_factory.mktemp("state")
    root = app_with_a_short_time_limit(tmp_path_factory.mktemp("app"))
    loaded = load_settings("integration", root=root).with_state_dir(state)
    settings = dataclasses.replace(
        loaded,
        api_key="faults-key",
        mlflow_tracking_uri=tracking_server.url,
        mlflow_artifact_root="mlflow-artifacts:/",
        app=dataclasses.replace(loaded.app, model_refresh_seconds=1),
    )
    store = open_datastore(settings)
    store.create(table_schema())
    store.append(data_rows("dataset_1.csv", FIRST_MODEL_ROWS))
    version = retrain(settings=settings).challenger_version
    probe_port = free_port()
    with local_stack(settings, free_port(), log_folder=state, probe_port=probe_port) as stack:
        client = AppClient(stack.url, settings.api_key)
        yield RunningApp(stack, settings, client, version, f"http://127.0.0.1:{probe_port}", state)


def assert_the_champion_is_what_the_job_reports(app: RunningApp, before: int | None, job: dict) -> None:
    """Unchanged, or replaced by exactly the version the finished job reports, which passed the gate."""
    report = job["report"] or {}
    if report.get("promoted"):
        assert app.champion() == report["challenger_version"]
        [version] = [v for v in app.client.models()["versions"] if v["version"] == report["challenger_version"]]
        assert version["passed"]
    else:
        assert app.champion() == before


@dataclasses.dataclass
class Load:
    """Clients that keep their connection open, each sending one JSON record to /predict after another, and a probe
    calling /health as Kubernetes does (on the probe port, with the liveness probe's timeout): what every request
    took, which versions answered, and what failed."""

    url: str
    probe_url: str
    api_key: str
    record: list[dict]
    csv: bytes = b""  # what CSV clients upload, if there are any
    latencies: list[float] = dataclasses.field(default_factory=list)
    versions: set[int] = dataclasses.field(default_factory=set)
    answered: list[int] = dataclasses.field(default_factory=list)  # the version of each JSON answer, in order
    failures: list[str] = dataclasses.field(default_factory=list)
    csv_latencies: list[float] = dataclasses.field(default_factory=list)
    probes: list[dict | str] = dataclasses.field(default_factory=list)
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def client(self) -> None:
        with requests.Session() as session:
            session.headers["X-API-Key"] = self.api_key
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    answer = session.post(f"{self.url}/predict", json={"records": self.record},
                                          timeout=REQUEST_TIMEOUT_SECONDS)  # fmt: skip
                    answer.raise_for_status()
                    self.versions.add(answer.json()["model_version"])
                    self.answered.append(answer.json()["model_version"])
                except requests.RequestException as problem:
                    self.failures.append(repr(problem))
                self.latencies.append(time.monotonic() - started)

    def csv_client(self) -> None:
        """Uploads the whole file again and again on one connection; every answer must hold a row per row."""
        rows = self.csv.count(b"\n") - 1
        with requests.Session() as session:
            session.headers["X-API-Key"] = self.api_key
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    answer = session.post(f"{self.url}/predict", files={"file": ("rows.csv", self.csv, "text/csv")},
                                          timeout=REQUEST_TIMEOUT_SECONDS)  # fmt: skip
                    answer.raise_for_status()
                    answered_rows = answer.content.count(b"\n") - 1
                    if answered_rows != rows:
                        self.failures.append(f"a CSV answer of {answered_rows} rows, not {rows}")
                except requests.RequestException as problem:
                    self.failures.append(repr(problem))
                self.csv_latencies.append(time.monotonic() - started)

    def probe(self) -> None:
        probe_timeout = web_container()["livenessProbe"]["timeoutSeconds"]
        while not self._stop.wait(1):
            try:
                answer = requests.get(f"{self.probe_url}/health", timeout=probe_timeout)
                answer.raise_for_status()
                self.probes.append(answer.json())
            except requests.RequestException as problem:
                self.probes.append(repr(problem))

    def wait_for_health(self, status: str, what: str) -> None:
        last_status = lambda: isinstance(self.probes[-1], dict) and self.probes[-1]["status"]  # noqa: E731
        wait_for(lambda: self.probes and last_status() == status, RECOVERY_TIMEOUT_SECONDS,
                 lambda: f"{what}; the last probes said {self.probes[-3:]}")  # fmt: skip

    @contextlib.contextmanager
    def running(self, clients: int, csv_clients: int = 0) -> Iterator[Load]:
        threads = [threading.Thread(target=self.client) for _ in range(clients)] + [threading.Thread(target=self.probe)]
        threads += [threading.Thread(target=self.csv_client) for _ in range(csv_clients)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()

    def p99(self, latencies: list[float] | None = None) -> float:
        return statistics.quantiles(self.latencies if latencies is None else latencies, n=100)[98]

    def wait_until_only(self, version: int) -> None:
        """Until the last answers, from every web process, all came from `version`."""
        last = lambda: set(self.answered[-CONSISTENT_ANSWERS:])  # noqa: E731
        wait_for(lambda: last() == {version}, RECOVERY_TIMEOUT_SECONDS,
                 lambda: f"still answered by {last()}, not v{version} alone")  # fmt: skip

    def failed_probes(self) -> list[str]:
        return [probe for probe in self.probes if isinstance(probe, str)]


def test_predictions_never_wait_on_a_registry_that_is_down_or_hung(app, tracking_server):
    load = Load(app.stack.url, app.probe_url, app.settings.api_key, first_new_record(app.settings.app.target))
    with load.running(CLIENTS):
        wait_for(lambda: len(load.probes) >= 3, 30, "no health probe answered")

        tracking_server.kill()
        load.wait_for_health("degraded", "health never said the registry was down")
        time.sleep(OUTAGE_SECONDS)  # the outage itself: the clients keep calling meanwhile
        tracking_server.start()
        load.wait_for_health("ok", "health did not recover")

        tracking_server.signal(signal.SIGSTOP)  # hung: it accepts connections and never answers
        load.wait_for_health("degraded", "health never said the registry hung")
        time.sleep(OUTAGE_SECONDS)
        tracking_server.signal(signal.SIGCONT)
        load.wait_for_health("ok", "health did not recover")

    print(f"\n{len(load.latencies)} requests, {len(load.failures)} failed, p99 {load.p99():.3f} s, "
          f"{len(load.failed_probes())} of {len(load.probes)} health probes failed")  # fmt: skip
    assert load.failures == [], f"{len(load.failures)} of {len(load.latencies)} failed, e.g. {load.failures[0]}"
    assert load.failed_probes() == []
    assert load.p99() < P99_LIMIT_SECONDS
    assert load.versions == {app.first_version}


def test_keep_alive_clients_get_every_answer_through_two_champion_swaps(app):
    """32 JSON clients and 2 CSV clients, each on one kept-alive connection, while the champion changes and changes
    back: not one request fails, and each answer comes from the old champion or the new one."""
    registry, environment = open_registry(app.settings), app.settings.environment
    job = app.client.follow(app.client.retrain()["job_id"], timeout=RECOVERY_TIMEOUT_SECONDS)  # a second version
    assert job["state"] == "done", job["message"]
    first = app.champion()
    second = next(v for v in (job["report"]["challenger_version"], job["report"]["champion_version"]) if v != first)
    load = Load(app.stack.url, app.probe_url, app.settings.api_key, first_new_record(app.settings.app.target),
                csv=(DATA / "dataset_2.csv").read_bytes())  # fmt: skip
    with load.running(CLIENTS, CSV_CLIENTS):
        load.wait_until_only(first)
        for version in (second, first):
            move(registry, environment, "deploy", "the fault tests", model_version=version)
            load.wait_until_only(version)

    print(f"\n{len(load.latencies)} JSON and {len(load.csv_latencies)} CSV requests through two swaps, "
          f"{len(load.failures)} failed; p99 JSON {load.p99():.3f} s, "
          f"CSV {load.p99(load.csv_latencies):.3f} s")  # fmt: skip
    assert load.failures == [], f"{len(load.failures)} failed, e.g. {load.failures[0]}"
    assert load.versions == {first, second}  # the p99 is a figure here: what the swap promises is no failure


def test_a_retrain_whose_pool_process_dies_runs_again_and_promotes_only_what_it_reports(app):
    before = app.champion()
    job_id = app.client.retrain()["job_id"]
    app.wait_until_running(job_id)

    app.kill_the_pool_process()

    job = app.client.follow(job_id, timeout=RECOVERY_TIMEOUT_SECONDS)
    assert job["state"] == "done", job["message"]
    assert app.tries(job_id) == 2
    assert_the_champion_is_what_the_job_reports(app, before, job)


def test_a_retrain_whose_worker_dies_on_every_try_ends_failed_and_the_next_one_runs(app):
    before = app.champion()
    job_id = app.client.retrain()["job_id"]
    for _ in range(MAX_ATTEMPTS):
        app.wait_until_running(job_id)
        app.kill_the_pool_process()
        app.wait_until_running(job_id, running=False)  # the worker has seen its pool process die

    job = app.client.follow(job_id, timeout=RECOVERY_TIMEOUT_SECONDS)
    assert job["state"] == "failed" and f"stopped after {MAX_ATTEMPTS} tries" in job["message"], job
    assert app.champion() == before

    after = app.client.follow(app.client.retrain()["job_id"], timeout=RECOVERY_TIMEOUT_SECONDS)
    assert after["state"] == "done", after["message"]
    assert_the_champion_is_what_the_job_reports(app, before, after)


def messages_redis_would_hand_out_again(app: RunningApp) -> int:
    """Messages a worker has taken and not acknowledged: Redis hands each to a worker again once the visibility
    timeout passes, so any left after their jobs have ended would run those jobs a second time."""
    return redis.Redis.from_url(app.stack.redis_url).hlen("unacked")


def assert_it_ended_done_once(app: RunningApp, job_id: str, before: int | None, tries: int,
                              timeout: float = RECOVERY_TIMEOUT_SECONDS) -> None:  # fmt: skip
    """The job ended `done` after `tries` starts, the champion is what it reports, and Redis holds nothing it would
    hand out again."""
    job = app.client.follow(job_id, timeout=timeout)
    assert job["state"] == "done", job["message"]
    assert app.tries(job_id) == tries
    assert_the_champion_is_what_the_job_reports(app, before, job)
    wait_for(lambda: messages_redis_would_hand_out_again(app) == 0, RECOVERY_TIMEOUT_SECONDS,
             lambda: f"{messages_redis_would_hand_out_again(app)} finished jobs would run again")  # fmt: skip


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
def test_a_retrain_lives_through_a_redis_restart_and_runs_once(app, stop_signal):
    before = app.champion()
    job_id = app.client.retrain()["job_id"]
    app.wait_until_running(job_id)

    app.stack.embedded_redis.restart(stop_signal, down_seconds=REDIS_DOWN_SECONDS)  # while it trains

    assert_it_ended_done_once(app, job_id, before, tries=1)


def test_a_retrain_handed_out_again_after_it_ended_is_not_run_twice(app):
    """What a Redis crash within a second of handing a job out leads to (its append-only file lost the hand-out):
    the job is delivered again, though it has run. It must not run, train and promote a second time."""
    job_id = app.client.retrain()["job_id"]
    job = app.client.follow(job_id, timeout=RECOVERY_TIMEOUT_SECONDS)
    versions = len(app.client.models()["versions"])

    Celery(broker=app.stack.redis_url).send_task(RETRAIN_TASK, args=[app.settings.environment], task_id=job_id)

    worker_log = app.stack_log("worker")
    wait_for(lambda: f"retrain {job_id} has already ended" in worker_log.read_text(), RECOVERY_TIMEOUT_SECONDS,
             lambda: f"the worker never said it left the job alone: {worker_log.read_text()[-2000:]}")  # fmt: skip
    assert app.tries(job_id) == 1
    assert app.client.job(job_id) == job
    assert len(app.client.models()["versions"]) == versions


def test_a_retrain_whose_whole_worker_dies_stops_reading_running_and_runs_again_once(app):
    before = app.champion()
    job_id = app.client.retrain()["job_id"]
    app.wait_until_running(job_id)

    app.stack.restart("worker")  # killed with all its processes, as when its node dies; a new one starts at once

    job = lambda: app.client.job(job_id)  # noqa: E731
    wait_for(lambda: job()["state"] == "queued", RUNNING_CLAIM_SECONDS + 30,
             lambda: f"the job still says it runs with nothing running it: {job()}")  # fmt: skip
    assert "its worker stopped mid-run" in job()["message"]
    redelivered = RETRAIN_TIME_LIMIT_MINUTES * 60 + VISIBILITY_MARGIN_SECONDS + RECOVERY_TIMEOUT_SECONDS
    assert_it_ended_done_once(app, job_id, before, tries=2, timeout=redelivered)


def assert_one_unbroken_history(events: list, champion: int | None, before: int | None) -> None:
    """`events` (newest first) lead from `before` to `champion`, each starting where the one before it ended: no change
    was made on a state that another had already replaced."""
    served = [before, *(event.after.model_version for event in reversed(events))]
    assert [event.before.model_version for event in reversed(events)] == served[:-1], events
    assert served[-1] == champion


def test_two_retrain_calls_and_a_retrain_command_at_once_take_turns(app, tmp_path):
    """While a retrain holds the environment, a `retrain` command and two calls of /retrain all wait; then each runs
    in turn, scored against and replacing the champion of its own time: none finds, once trained, that the
    environment moved meanwhile, and history is one unbroken chain."""
    registry, environment = open_registry(app.settings), app.settings.environment
    before, known_events = app.champion(), len(registry.events(environment))
    claims, other = RunningClaims(redis.Redis.from_url(app.stack.redis_url)), "another-retrain"
    output = tmp_path / "retrain-command.log"
    assert claims.claim_running(environment, other)
    try:
        with output.open("wb") as log:
            command = subprocess.Popen([sys.executable, "-m", APP_NAME, "retrain"], env=app.stack.env, stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        with concurrent.futures.ThreadPoolExecutor(2) as calls:
            job_ids = set(calls.map(lambda _: app.client.retrain()["job_id"], range(2)))
        wait_for(lambda: "waiting for it" in output.read_text() or command.poll() is not None,
                 RECOVERY_TIMEOUT_SECONDS, "the command neither waited nor ended")  # fmt: skip
        assert command.poll() is None, f"the command ran beside another retrain: {output.read_text()}"
        assert {app.client.job(job_id)["state"] for job_id in job_ids} == {"queued"}
    finally:
        claims.release_claim(environment, other)
    jobs = [app.client.follow(job_id, timeout=3 * RECOVERY_TIMEOUT_SECONDS) for job_id in job_ids]
    command.wait(timeout=3 * RECOVERY_TIMEOUT_SECONDS)
    printed = output.read_text()

    assert command.returncode in (EXIT_OK, EXIT_KEPT_CHAMPION), printed
    assert [job["state"] for job in jobs] == ["done"] * len(jobs), jobs
    reports = [job["report"] for job in jobs]
    assert not any("while this model trained" in report["reason"] for report in reports), reports
    assert "while this model trained" not in printed, printed
    promoted = {report["challenger_version"] for report in reports if report["promoted"]}
    promoted |= {int(version) for version in re.findall(r"Promoted v(\d+)", printed)}
    events = registry.events(environment)[: len(registry.events(environment)) - known_events]
    assert {event.after.model_version for event in events} == promoted
    assert_one_unbroken_history(events, app.champion(), before)
    print(f"\n{len(job_ids)} job(s) and a command took turns: {len(promoted)} promoted")


def with_a_model_of_its_own(settings: Settings, tracking_uri: str, model_name: str) -> Settings:
    """`settings` on the tracking server at `tracking_uri`, with the first rows in its table and a model of its own,
    which no environment serves yet, and no floor: until a champion is promoted, each retrain passes the gate."""
    own = dataclasses.replace(
        settings,
        mlflow_tracking_uri=tracking_uri,
        mlflow_artifact_root="mlflow-artifacts:/",
        app=dataclasses.replace(settings.app, model_name=model_name, min_score=None),
    )
    store = open_datastore(own)
    store.create(table_schema())
    store.append(data_rows("dataset_1.csv", FIRST_MODEL_ROWS))
    return own


def test_a_rollback_that_lands_while_a_retrain_registers_its_model_stands(settings, tracking_server):
    """The narrowest window: the retrain has scored its challenger against the champion, and a rollback moves the
    environment before the retrain promotes. The rollback stands, and the retrain says why it promoted nothing."""
    own = with_a_model_of_its_own(settings, tracking_server.url, "rollback_during_retrain")
    store = open_datastore(own)
    store.clone("uat")
    registry, environment = open_registry(own), own.environment
    first = retrain(settings=own).challenger_version  # the first champion of each environment
    other = retrain(settings=dataclasses.replace(own, environment="uat")).challenger_version
    store.append(data_rows("dataset_2.csv"))  # a challenger with more rows to learn from

    def roll_back_while_registering(stage: str, _: float) -> None:
        if stage == "register":
            rollback(own, registry, environment, to_version=other)

    report = retrain(settings=own, progress=roll_back_while_registering)

    print(f"\n{report.reason}")
    assert registry.champion_version(environment) == other
    assert not report.promoted and report.serving_version == other
    if report.passed:  # better than the champion it was scored against, which no longer serves
        assert f"the environment moved to v{other} while this model trained" in report.reason
    assert_one_unbroken_history(registry.events(environment), other, None)
    assert [event.action for event in registry.events(environment)] == ["rollback", "retrain"]
    assert registry.events(environment)[0].before.model_version == first


def parse_quantity(quantity: str) -> int:
    """A Kubernetes memory quantity (512Mi, 3Gi) in bytes."""
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


def peak_memory_bytes(pids: set[int]) -> int:
    """The peak resident memory (VmHWM) of `pids`, added up: at worst, all at once."""
    peaks = [0]
    for pid in pids:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            peaks += [int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return sum(peaks)


def web_container() -> dict:
    """The web container as k8s/ declares it: its probes and its memory limit."""
    manifests = yaml.safe_load_all((APP_ROOT / "k8s" / "base" / "{{ cookiecutter.app_name }}.yml").read_text())
    web = next(m for m in manifests if m["kind"] == "Deployment")
    return web["spec"]["template"]["spec"]["containers"][0]


def test_probes_answer_while_every_web_process_reads_a_large_upload(app, tmp_path):
    # A ~95 MB training file whose last row has no target: read and checked in full, then refused, adding nothing.
    rows = data_rows("dataset_2.csv")
    big = pd.concat([rows] * (UPLOAD_BYTES // len(rows.to_csv(index=False)) + 1), ignore_index=True)
    big.loc[len(big) - 1, app.settings.app.target] = ""
    upload = tmp_path / "large.csv"
    big.to_csv(upload, index=False)
    before, answers, probes = open_datastore(app.settings).count(), [], []
    probe_timeout = web_container()["readinessProbe"]["timeoutSeconds"]
    memory_limit = parse_quantity(web_container()["resources"]["limits"]["memory"])

    def send() -> None:
        with upload.open("rb") as file:
            answers.append(requests.post(f"{app.stack.url}/train", files={"file": ("large.csv", file, "text/csv")},
                                         headers={"X-API-Key": app.settings.api_key}, timeout=300))  # fmt: skip

    senders = [threading.Thread(target=send) for _ in range(app.settings.app.processes)]  # every web process busy
    for sender in senders:
        sender.start()
    while any(sender.is_alive() for sender in senders):
        started = time.monotonic()
        try:
            probes.append(requests.get(f"{app.probe_url}/health", timeout=probe_timeout).status_code)
        except requests.RequestException as problem:
            probes.append(repr(problem))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
    for sender in senders:
        sender.join()

    peak = peak_memory_bytes(descendants(app.stack.processes["web"].pid))
    print(
        f"\n{upload.stat().st_size / 1e6:.0f} MB x {len(senders)}: {len(probes)} probes, "
        f"{sum(p != 200 for p in probes)} failed; web processes' peak memory, added up: {peak / 1e9:.2f} GB"
    )
    assert [answer.status_code for answer in answers] == [400] * len(senders)
    assert all("must have a value in every row" in answer.json()["error"] for answer in answers)
    assert len(probes) >= 3 and all(probe == 200 for probe in probes), probes
    assert open_datastore(app.settings).count() == before
    assert peak < memory_limit  # what the pod may use


def test_a_change_whose_audit_entry_fails_moves_nothing_on_any_path(settings, tracking_server):
    """Retrain, promote and rollback each move an alias and then write the audit entry; when the entry fails, before
    the server has it or after (its answer lost), the environment serves what it did and history says so."""
    proxy = RegistryProxy(tracking_server.url)
    faulty = with_a_model_of_its_own(settings, proxy.url, "half_promotion")
    registry = open_registry(faulty)
    faults = [("/runs/create", False), ("/runs/update", True)]  # the entry refused; its completion done, answer lost
    changes = {
        "retrain": lambda: retrain(settings=faulty),
        "promote": lambda: promote(faulty, registry, faulty.environment),
        "rollback": lambda: rollback(faulty, registry, faulty.environment, to_version=registry.versions()[-1].version),
    }
    try:
        for action, change in changes.items():
            for path, done_first in faults:
                before, history = registry.deployments(), [(e.action, e.environment) for e in registry.events()]
                proxy.refuse_after_alias_move(path, done_first)
                with pytest.raises(DeploymentError) as problem:
                    change()
                assert proxy.refused, f"{action}: the proxy refused nothing"
                assert "nothing moved" in str(problem.value), problem.value
                assert registry.deployments() == before, f"{action} moved half-way when {path} failed"
                assert [(e.action, e.environment) for e in registry.events()] == history, f"{action}, {path}"
                proxy.refused.clear()
            proxy.rule = None
            assert change(), f"{action} did nothing once the registry worked"  # and with no fault, it goes through
    finally:
        proxy.close()
