"""Training on Dask (training_engine: dask, or auto on a table too large for the worker): the retrain runs on a real
cluster of worker processes on this machine, started and stopped by the retrain itself."""

import contextlib
import dataclasses
import os
import selectors
import signal
import subprocess
import sys
import time

import psutil
import pytest

from {{ cookiecutter.app_name }}.datastore import open_datastore
from {{ cookiecutter.app_name }}.engines import choose_engine
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.registry import open_registry

from .conftest import sensor_app
from .support.data import a_small_model, copy_app_config, data_rows, sensor_rows

pytestmark = pytest.mark.unit
GONE_SECONDS = 30  # for processes to end after their parent did


def on_engine(settings, engine: str, worker_memory_gb: float | None = None):
    app = dataclasses.replace(settings.app, training_engine=engine)
    environment = settings.environment_config
    if worker_memory_gb is not None:
        environment = dataclasses.replace(environment, worker_memory_gb=worker_memory_gb)
    return dataclasses.replace(settings, app=app, environment_config=environment)


def test_a_retrain_too_large_for_the_worker_trains_on_two_dask_processes_and_promotes_through_the_gate(
    tmp_path, monkeypatch, request
):
    settings = sensor_app(tmp_path, monkeypatch, request)  # data of another shape than the app's own
    open_datastore(settings).append(sensor_rows(3000, seed=1))
    settings = on_engine(settings, "auto", worker_memory_gb=0.001)

    report = retrain(settings=settings)

    assert report.engine == "dask", report.engine_reason
    assert "more than the worker's 0.001 GB" in report.engine_reason
    assert report.dask_workers == 2, "both workers must hold rows to train on"
    assert report.training_rows + report.held_out_rows == 3000 and report.search_rows == report.training_rows
    assert report.promoted and report.serving_version == report.challenger_version, report.reason
    assert report.challenger_score > 0.8 and report.trees > 0 and report.predict_ms_per_1000_rows > 0
    # What it registered is an ordinary model: it predicts new rows in this process, without the cluster.
    model = open_registry(settings).load(report.challenger_version)
    predicted = model.predict(sensor_rows(50, seed=2).drop(columns=["status"]))
    assert set(predicted) <= {"fault", "ok"} and len(predicted) == 50


def test_loading_a_model_leaves_the_import_path_that_dask_workers_start_with_as_it_was(registry):
    # A worker process that Dask starts imports the app from the path its parent has. MLflow puts a model's code, a
    # partial copy of the app, first on that path when it loads a version: after the worker loaded a champion, the
    # next retrain's cluster failed to import the app and the retrain hung.
    version = registry.register(*a_small_model(), tags={"passed": "true", "score": 0.9}, params={}, metrics={})
    before = list(sys.path)

    registry.load(version)

    assert sys.path == before


def test_auto_picks_dask_only_when_training_the_table_locally_would_not_fit_the_worker(settings, store):
    store.append(data_rows("dataset_1.csv", 400))

    roomy = choose_engine(on_engine(settings, "auto", worker_memory_gb=4), store)
    cramped = choose_engine(on_engine(settings, "auto", worker_memory_gb=0.0001), store)
    told = choose_engine(on_engine(settings, "dask", worker_memory_gb=4), store)

    assert (roomy.engine, cramped.engine, told.engine) == ("local", "dask", "dask")
    assert "400 rows" in roomy.reason and "within the worker's 4 GB" in roomy.reason
    assert "more than the worker's 0.0001 GB" in cramped.reason


def cluster_processes(parent: psutil.Process | None = None) -> list[psutil.Process]:
    """The worker processes of a local Dask cluster that `parent` (default: this process) started, if any: processes
    started as multiprocessing starts them (not its resource tracker, which lives as long as its parent)."""
    found = []
    for process in (parent or psutil.Process()).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "spawn_main" in " ".join(process.cmdline()):
                found.append(process)
    return found


def test_a_retrain_stopped_in_training_stops_its_dask_cluster(settings, store):
    store.append(data_rows("dataset_1.csv", 400))
    before = {process.pid for process in cluster_processes()}
    workers_seen = []

    def stop_in_training(stage: str, done: float) -> None:
        if stage == "train":
            workers_seen.extend(process.pid for process in cluster_processes() if process.pid not in before)
            raise TimeoutError("the retrain's time limit")  # as Celery's soft time limit does, inside the retrain

    with pytest.raises(TimeoutError):
        retrain(settings=on_engine(settings, "dask"), progress=stop_in_training)

    assert len(workers_seen) >= 2, "the cluster's worker processes were running"
    _, alive = psutil.wait_procs([psutil.Process(pid) for pid in workers_seen if psutil.pid_exists(pid)], 10)
    assert not alive, f"left behind: {alive}"


def await_line(process: subprocess.Popen, text: str, timeout: float) -> None:
    """Read the process's output until a line holds `text`; fail after `timeout` seconds or at its end."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = process.stdout.readline()
                assert line, f"the process ended (exit code {process.wait()}) before printing {text!r}"
                if text in line:
                    return
    pytest.fail(f"no line with {text!r} in {timeout} s")


def test_a_retrain_process_killed_on_the_cluster_leaves_no_dask_worker_behind(tmp_path, settings, store):
    store.append(data_rows("dataset_1.csv", 400))
    root = copy_app_config(tmp_path / "app", training_engine="dask", max_minutes_to_train=5)
    retraining = subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.app_name }}", "retrain", "--environment", "integration"],
        env={**os.environ, "APP_ROOT": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await_line(retraining, "%  train", timeout=120)  # the command prints each stage as it starts: "  10%  train"
        workers = cluster_processes(psutil.Process(retraining.pid))
        assert len(workers) >= 2, "the cluster's worker processes were running"

        retraining.send_signal(signal.SIGKILL)  # as the kernel's out-of-memory killer, or a hard time limit, does
        retraining.wait(timeout=GONE_SECONDS)

        _, alive = psutil.wait_procs(workers, timeout=GONE_SECONDS)
        assert not alive, f"left behind: {alive}"
    finally:
        retraining.kill()
        retraining.wait()
