"""The image's own commands, exactly as docker/Dockerfile and k8s/base/celery_worker.yml give them, started on this
machine (no container runtime here) on a read-only root as in the pods: the web app and the worker answer the smoke
tests (through `deploy test`, as CI runs them), run a retrain, and stop on SIGTERM as Kubernetes stops them."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.datastore import open_datastore
from {{ cookiecutter.app_name }}.laptop.client import AppClient
from {{ cookiecutter.app_name }}.laptop.embedded_redis import embedded_redis
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port

from .support.data import APP_ROOT, data_rows, table_schema
from .test_run_server import wait_for

pytestmark = pytest.mark.integration
START_TIMEOUT_SECONDS, STOP_TIMEOUT_SECONDS = 120, 60
API_KEY = "container-key"


def image_command() -> list[str]:
    """The Dockerfile's CMD: what the web app's container runs."""
    line = next(
        line for line in (APP_ROOT / "docker" / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    )
    return json.loads(line.removeprefix("CMD "))


def manifest_command(file_name: str, container: str) -> list[str]:
    """The command a manifest in k8s/base gives a container."""
    documents = yaml.safe_load_all((APP_ROOT / "k8s" / "base" / file_name).read_text())
    deployment = next(document for document in documents if document["kind"] == "Deployment")
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container)["command"]


def on_a_read_only_root(command: list[str]) -> list[str]:
    """`command` as the pod runs it (readOnlyRootFilesystem): nothing can be written but /tmp, an emptyDir there;
    the app's folder is read-only too, wherever it is. In a mount namespace of its own, which needs root. The working
    folder is entered again once mounted: the one inherited is the folder under the new mounts."""
    script = ('mount --bind /tmp /tmp && mount -o remount,bind,ro / && mount --bind "$0" "$0" '
              '&& mount -o remount,bind,ro "$0" && cd "$PWD" && exec "$@"')  # fmt: skip
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(APP_ROOT), *command]


@functools.cache  # one probe per test session: the tracking-server fixture asks before every workflow test
def read_only_root_problem() -> str | None:
    """Why this machine cannot run a command on a read-only root (it needs root's right to mount), or None."""
    probe = subprocess.run(on_a_read_only_root(["sh", "-c", "! touch /.written 2>/dev/null && touch /tmp/.written"]),
                           capture_output=True, text=True)  # fmt: skip
    return None if probe.returncode == 0 else probe.stderr.strip() or "the probe failed"


def test_the_image_commands_serve_the_smoke_tests_run_a_retrain_and_stop_on_sigterm(tmp_path, kubectl):
    if problem := read_only_root_problem():
        pytest.skip(f"a read-only root, as in the pods, needs root's right to mount: {problem}")
    settings = load_settings("integration", root=APP_ROOT).with_state_dir(tmp_path / "state")
    store = open_datastore(settings)
    store.create(table_schema())
    store.append(data_rows("dataset_1.csv", 1000))
    retrain(settings=settings)
    port = free_port()
    web = image_command()
    web[web.index("--port") + 1] = str(port)  # the image listens on 8080; here any free port will do
    worker = manifest_command("celery_worker.yml", "worker")

    with embedded_redis(tmp_path / "redis") as redis_url:
        # What the image and the manifests give the processes: its executables first on PATH, the settings ConfigMap
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "APP_ROOT": str(APP_ROOT), "APP_STATE_DIR": str(settings.state_dir),
               "APP_ENVIRONMENT": "integration", "REDIS_URL": redis_url,
               "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "API_KEY": API_KEY}  # fmt: skip
        processes = {}
        try:
            for name, command in (("web", web), ("worker", worker)):
                with (tmp_path / f"{name}.log").open("wb") as log:
                    processes[name] = subprocess.Popen(on_a_read_only_root(command), cwd=APP_ROOT, env=env,
                                                       stdout=log, stderr=subprocess.STDOUT,
                                                       start_new_session=True)  # fmt: skip
            url = f"http://127.0.0.1:{port}"

            def logs() -> dict[str, str]:
                return {path.name: path.read_text()[-2000:] for path in tmp_path.glob("*.log")}

            wait_for(lambda: answers(url) or any(p.poll() is not None for p in processes.values()),
                     START_TIMEOUT_SECONDS, f"the web app did not answer: {logs()}")  # fmt: skip
            # As in CI: no APP_URL, so `deploy test` reaches the app through `kubectl port-forward` to its Service.
            deploy_test = [sys.executable, "-m", "{{ cookiecutter.app_name }}", "deploy", "test", "-m", "smoke"]
            through_kubectl = {**env, "PATH": f"{kubectl.bin_dir}{os.pathsep}{env['PATH']}",
                               "KUBECTL_SERVICE_ADDRESS": f"127.0.0.1:{port}",
                               "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}  # fmt: skip
            smoke = subprocess.run(deploy_test, cwd=APP_ROOT, env=through_kubectl, capture_output=True, text=True)
            client = AppClient(url, API_KEY)
            retrained = client.follow(client.retrain()["job_id"], timeout=600)

            assert smoke.returncode == 0 and re.search(r"\b3 passed", smoke.stdout), smoke.stdout[-3000:]
            namespace, service = settings.kubernetes_namespace, "service/{{ cookiecutter.app_name }}".replace("_", "-")
            assert kubectl.calls()[0][:4] == ["port-forward", "--namespace", namespace, service]
            report = (tmp_path / "summary.md").read_text()
            assert report.startswith("### pytest -m smoke against [integration]: 3 passed, 0 failed"), report
            assert retrained["state"] == "done", (retrained, logs())

            for process in processes.values():
                process.send_signal(signal.SIGTERM)  # what Kubernetes sends to stop a pod
            for name, process in processes.items():
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"the {name} was still running {STOP_TIMEOUT_SECONDS} s after SIGTERM: {logs()}")
            assert not answers(url)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def answers(url: str) -> bool:
    try:
        # The first answer can take a while: each web process loads the model then.
        return requests.get(f"{url}/health", timeout=30).ok
    except requests.RequestException:
        return False
