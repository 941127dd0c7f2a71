"""The GitHub workflows: linted as GitHub reads them, and their steps run here, in order, on the embedded default.

GitHub, GKE, docker and gcloud do not run here: stand-ins record what the steps send them. Everything else is real:
each `run:` step's command runs with the workflow's environment, on a registry and data of the test's own. Only
the `deploy test` steps (pytest against the cluster) are left out; test_container_commands covers that command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from werkzeug.security import generate_password_hash

from {{ cookiecutter.app_name }}.__main__ import main
from {{ cookiecutter.app_name }}.comparison import MARKER
from {{ cookiecutter.app_name }}.config import cluster_service_url
from {{ cookiecutter.app_name }}.datastore import open_datastore
from {{ cookiecutter.app_name }}.deploy.tools import answers
from {{ cookiecutter.app_name }}.environments import component_file as components
from {{ cookiecutter.app_name }}.pipeline import retrain
from {{ cookiecutter.app_name }}.processes import free_port, wait_until_started
from {{ cookiecutter.app_name }}.registry import (
    ENVIRONMENT_TAG,
    HISTORY_EXPERIMENT,
    SHADOW_TAG,
    Deployment,
    EnvironmentEvent,
    ModelRegistry,
    Shadow,
    open_registry,
)

from .conftest import TRACKING_SERVER_ENVIRONMENT
from .support.cluster_access import ApiRequest, ClusterAccess, requests_of
from .support.data import APP_ROOT, a_small_model, copy_app_config, data_rows
from .support.github_api import Repository, github_api
from .support.kubectl import RecordingKubectl
from .test_container_commands import on_a_read_only_root, read_only_root_problem
from .test_deployment import IMAGE, PULL_REQUEST_IMAGE, app_images, tool
from .test_environments import deploy_app, trained_environment

pytestmark = pytest.mark.workflows

WORKFLOWS = APP_ROOT / ".github" / "workflows"
SHA = "0123456789abcdef0123456789abcdef01234567"
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")
SETUP_ACTION = "./.github/actions/setup"
ADMIN = ("admin", "admin-password-of-the-tracking-server")
APP_USER = ("retrain-app", "password-of-the-app-on-the-tracking-server")
PULL_REQUEST_USER = ("retrain-app-challenger", "password-of-pull-requests-on-the-tracking-server")
SIGN_IN_APP = "{{ cookiecutter.app_name | replace('_', '-') }}-auth"  # tracking_server/, as k8s/mlflow.yml runs it
PROJECT = "my-project"
PULL_REQUEST_IDENTITY = f"github-challenger@{PROJECT}.iam.gserviceaccount.com"  # as docs/operations.md names it
NAMESPACE_PREFIX = "{{ cookiecutter.app_name | replace('_', '-') }}-"


def test_the_workflows_pass_actionlint_and_github_s_schemas():
    workflows = sorted(str(path.relative_to(APP_ROOT)) for path in WORKFLOWS.glob("*.yml"))
    action = ".github/actions/setup/action.yml"
    checks = [
        [tool("actionlint"), *workflows],
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows],
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", action],
        [tool("yamllint"), "--strict", ".github"],
    ]

    for check in checks:
        checked = subprocess.run(check, cwd=APP_ROOT, capture_output=True, text=True)
        assert checked.returncode == 0, f"{check[0]}: {checked.stdout}{checked.stderr}"
    assert workflows == [".github/workflows/challenger-report.yml", ".github/workflows/challenger-test.yml",
                         ".github/workflows/deploy.yml", ".github/workflows/promote.yml"]  # fmt: skip


def test_each_job_acts_only_as_the_identity_and_with_the_key_of_its_github_environment():
    """Each Google service account trusts one GitHub environment (docs/operations.md: Workload Identity bound to
    attribute.environment), so a job that signs in names its environment, and only such a job may ask for an identity
    token or read the API key: a pull request's jobs run as `challenger`, never as an environment of the chain."""
    set_up = (APP_ROOT / "docs" / "operations.md").read_text()
    assert "principalSet://iam.googleapis.com/$POOL/attribute.environment/$environment" in set_up
    assert "attribute.repository/" not in set_up  # no identity any job of the repository may take
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        assert "id-token" not in workflow["permissions"], path.name
        for name, job in workflow["jobs"].items():
            signs_in = any(step.get("uses") == SETUP_ACTION for step in job["steps"])
            reads_the_key = "secrets." in yaml.safe_dump(job)
            asks_for_a_token = job.get("permissions", {}).get("id-token") == "write"
            assert asks_for_a_token == signs_in, f"{path.name}: {name}"
            if signs_in or reads_the_key:
                assert job.get("environment"), f"{path.name}: {name} signs in or reads secrets outside an environment"
            if path.name == "challenger-test.yml" and (signs_in or reads_the_key):
                assert job["environment"] == "challenger", name


class Runner:
    """Runs a workflow job's `run:` steps, as a GitHub runner would, with the `run:` steps of the local setup action
    where the job uses it (the others set up Python, Google credentials and kubectl, which this test has or fakes).

    Every step must be `python -m "$APP" ARGS...`: the YAML holds no logic of its own; only the steps that install
    the app are not. The command is run in this process (the same `main` that `python -m` runs, without
    paying for a new interpreter per step)."""

    def __init__(self, root: Path, bin_dir: Path, context: dict[str, str]):
        self.root, self.bin_dir, self.context = root, bin_dir, context
        self.skipped: list[str] = []
        self.job_environment = bin_dir / "github_env"

    def substitute(self, text: str, inputs: dict[str, str] | None = None) -> str:
        known = {**self.context, **(inputs or {})}

        def value(match: re.Match) -> str:
            assert match.group(1) in known, f"the test gives no value for {match.group(0)}"
            return known[match.group(1)]

        return EXPRESSION.sub(value, str(text))

    def run_job(self, workflow: str, job: str) -> dict[str, str]:
        """Run the job's steps; its outputs, as GITHUB_OUTPUT received them. The job's environment (and what its
        steps add to it) ends with it, as it does on a GitHub runner."""
        spec = yaml.safe_load((WORKFLOWS / workflow).read_text())
        outputs = self.bin_dir / f"{workflow}-{job}.outputs"
        self.job_environment = self.bin_dir / f"{workflow}-{job}.env"
        with pytest.MonkeyPatch.context() as self.job:
            self.job.chdir(self.root)
            self.job.setenv("PATH", f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}")
            self.job.setenv("GITHUB_OUTPUT", str(outputs))
            self.job.setenv("GITHUB_ENV", str(self.job_environment))
            for key, value in {**spec.get("env", {}), **spec["jobs"][job].get("env", {})}.items():
                self.job.setenv(key, self.substitute(value))
            try:
                self.run_steps(spec["jobs"][job]["steps"])
            finally:
                self.stop_background_processes()
        lines = outputs.read_text().splitlines() if outputs.exists() else []
        return dict(line.split("=", 1) for line in lines)

    def run_steps(self, steps: list[dict], inputs: dict[str, str] | None = None) -> None:
        for step in steps:
            if step.get("uses") == SETUP_ACTION:
                action = yaml.safe_load((APP_ROOT / SETUP_ACTION / "action.yml").read_text())
                given = {f"inputs.{name}": self.substitute(value) for name, value in step.get("with", {}).items()}
                self.run_steps(action["runs"]["steps"], given)
            elif "run" in step:
                self.run_step(step, inputs)

    def run_step(self, step: dict, inputs: dict[str, str] | None) -> None:
        if shlex.split(step["run"])[:1] == ["pip"]:  # installing the app, which this venv has
            return
        with pytest.MonkeyPatch.context() as step_environment:
            for key, value in step.get("env", {}).items():
                step_environment.setenv(key, self.substitute(value, inputs))
            words = [os.path.expandvars(word) for word in shlex.split(step["run"])]
            assert words[:3] == ["python", "-m", "{{ cookiecutter.app_name }}"], f"a step with logic: {step['run']}"
            if words[3:5] == ["deploy", "test"]:
                self.skipped.append(step["run"])
                return
            assert main(words[3:]) == 0, step.get("name", step["run"])
        for name, value in self.job_variables().items():  # what the step wrote to $GITHUB_ENV, for the next ones
            self.job.setenv(name, value)

    def job_variables(self) -> dict[str, str]:
        lines = self.job_environment.read_text().splitlines() if self.job_environment.exists() else []
        return dict(line.split("=", 1) for line in lines)

    def stop_background_processes(self) -> None:
        """Stop the port-forward a step left running, as GitHub stops a job's processes when the job ends."""
        if pid := self.job_variables().get("MLFLOW_PORT_FORWARD_PID"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGTERM)


@pytest.fixture
def runner(bigquery_settings, tmp_path, kubectl, monkeypatch):
    """An app folder of the test's own, on BigQuery (the emulator) as a cluster needs, whose integration runs v1 and
    an app version, with the component config taken from it committed; docker and gcloud recorded like kubectl."""
    settings = bigquery_settings
    root = copy_app_config(tmp_path / "app", data_source=settings.app.data_source, bigquery=settings.app.bigquery)
    for folder in ("k8s", "docker"):
        shutil.copytree(APP_ROOT / folder, root / folder)
    quickest = dataclasses.replace(settings.app, max_models_with_no_score_change=1)  # any model will do here
    own = dataclasses.replace(settings, root=root, app=quickest)
    trained_environment(own, "integration")
    deploy_app(own, "integration", "app-1", monkeypatch)
    monkeypatch.delenv("APP_VERSION")  # the steps say which version they deploy
    registry = open_registry(own)
    components.write(root / components.COMPONENT_CONFIG,
                     components.as_mapping(own, "integration", registry.deployment("integration")))  # fmt: skip
    for stand_in in ("docker", "gcloud"):
        script = kubectl.bin_dir / stand_in
        script.write_text(f'#!/bin/sh\necho "{stand_in} $@" >> {kubectl.bin_dir}/calls\n')
        script.chmod(0o755)
    monkeypatch.delenv("APP_ROOT", raising=False)  # the steps find the app from the folder they run in
    context = {
        "github.event.pull_request.number": "7",
        "github.event.pull_request.head.sha": SHA,
        "github.sha": SHA,
        "github.run_number": "12",
        "github.actor": "octocat",
        "inputs.from": "integration",
        "vars.MLFLOW_TRACKING_URI": own.mlflow_tracking_uri,
        "vars.CLUSTER_MLFLOW_TRACKING_URI": "http://mlflow.mlflow.svc.cluster.local:5000",
        "vars.GCP_WORKLOAD_IDENTITY_PROVIDER": "projects/1/locations/global/workloadIdentityPools/gh/providers/gh",
        "vars.GCP_SERVICE_ACCOUNT": "github-deploy@project.iam.gserviceaccount.com",
        "vars.GKE_CLUSTER": "retrain",
        "vars.GKE_LOCATION": "europe-west1",
        "secrets.API_KEY": "ci-key",
        "secrets.MLFLOW_TRACKING_USERNAME": "",  # the runners reach no tracking server that asks for one
        "secrets.MLFLOW_TRACKING_PASSWORD": "",
    }
    return Runner(root, kubectl.bin_dir, context), own


def test_a_pull_request_gets_a_challenger_running_its_image_and_loses_it_when_closed(runner, kubectl):
    run, settings = runner
    registry = open_registry(settings)

    run.run_job("challenger-test.yml", "challenger")

    namespace = "{{ cookiecutter.app_name | replace('_', '-') }}-pr-7"
    image = f"{PULL_REQUEST_IMAGE}:{SHA}"  # pushed where no other environment's images are
    assert ["docker", "build", "--file", "docker/Dockerfile", "--tag", image, "."] in kubectl.calls()
    assert ["docker", "push", image] in kubectl.calls()
    assert registry.challengers() == {"pr-7": "integration"}
    assert registry.deployment("pr-7").model_version == registry.deployment("integration").model_version
    assert registry.deployment("pr-7").app_version == SHA
    sent = kubectl.deployed()
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in sent} == {namespace}
    secret = next(o for o in sent if o["kind"] == "Secret")["stringData"]
    assert secret["API_KEY"] == "ci-key" and set(secret) == {"API_KEY", "REDIS_PASSWORD", "REDIS_URL"}
    assert app_images(sent) == {image}
    assert any(call[:2] == ["rollout", "status"] for call in kubectl.calls())
    assert len(run.skipped) == 1  # the integration tests, which need the cluster

    run.run_job("challenger-test.yml", "delete-challenger")

    assert ["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"] in kubectl.calls()
    assert registry.challengers() == {} and registry.deployment("pr-7").model_version is None


def test_a_merge_deploys_the_component_config_to_integration_through_a_throwaway_challenger(runner, kubectl):
    run, settings = runner
    registry = open_registry(settings)
    listed = registry.deployment("integration")

    run.run_job("deploy.yml", "deploy")

    assert registry.deployment("integration") == listed.__class__(listed.model_version, SHA, listed.app_config)
    applied = [call for call in kubectl.calls() if call[:1] == ["apply"]]
    assert len(applied) == 4  # the challenger, then integration: each its namespace, then the rest
    assert app_images(kubectl.deployed(0)) == app_images(kubectl.deployed(1)) == {f"{IMAGE}:{SHA}"}  # main's, in both
    assert ["delete", "namespace", "{{ cookiecutter.app_name | replace('_', '-') }}-main-12", "--ignore-not-found",
            "--wait=false"] in kubectl.calls()  # fmt: skip
    assert registry.challengers() == {}
    assert [event.action for event in registry.events("integration")][:1] == ["deploy"]


def api_requests(kubectl: RecordingKubectl) -> list[ApiRequest]:
    """Every API request the recorded kubectl calls sent, in order."""
    sent, applies = [], 0
    for arguments in (call for call in kubectl.calls() if call[0] not in ("docker", "gcloud")):  # their stand-ins'
        manifest = kubectl.manifests(applies) if arguments[0] == "apply" else []
        applies += arguments[0] == "apply"
        sent += requests_of(arguments, manifest)
    return sent


def test_a_pull_request_s_identity_may_run_its_challenger_and_change_nothing_in_any_other_namespace(runner, kubectl):
    run, _ = runner
    access = ClusterAccess(yaml.safe_load_all((APP_ROOT / "k8s" / "challenger_access.yml").read_text()
                                              .replace("PROJECT_ID", PROJECT)))  # fmt: skip
    run.run_job("challenger-test.yml", "challenger")
    run.run_job("challenger-test.yml", "delete-challenger")
    # and `registry connect` in the setup action, where no tracking server address is set (the promote test runs it)
    forward = requests_of(["port-forward", "--namespace", "mlflow", "service/mlflow", "5000:5000"], [])
    sent = api_requests(kubectl) + forward

    assert {request.verb for request in sent} >= {"create", "patch", "watch", "delete"}  # a whole deploy and delete
    assert [r.describe() for r in sent if not access.allows(PULL_REQUEST_IDENTITY, r)] == []

    changes = [r for r in sent if r.verb in ("create", "patch", "delete") and r.namespace != "mlflow"]
    for namespace in ("integration", "uat", "production"):
        elsewhere = [request.elsewhere(NAMESPACE_PREFIX + namespace) for request in changes]
        assert [r.describe() for r in elsewhere if access.allows(PULL_REQUEST_IDENTITY, r)] == []
    assert access.refusals(PULL_REQUEST_IDENTITY, changes[-1].elsewhere(NAMESPACE_PREFIX + "production")) == [
        f"a pull request changes only challenger namespaces ({NAMESPACE_PREFIX}pr-<number>), not "
        f"{NAMESPACE_PREFIX}production"
    ]
    namespace = next(r for r in changes if r.kind == "Namespace" and r.verb == "create")
    unlabelled = {**namespace.object, "metadata": {**namespace.object["metadata"], "labels": {}}}
    assert access.refusals(PULL_REQUEST_IDENTITY, dataclasses.replace(namespace, object=unlabelled)) == [
        "a challenger namespace must enforce the restricted Pod Security profile"
    ]
    reads = [ApiRequest("get", "Secret", NAMESPACE_PREFIX + "pr-7", "app-secrets"),
             ApiRequest("get", "Secret", NAMESPACE_PREFIX + "production", "app-secrets"),
             ApiRequest("get", "Pod", NAMESPACE_PREFIX + "production", "web", "log"),
             ApiRequest("create", "Pod", NAMESPACE_PREFIX + "production", "celery-redis", "portforward")]  # fmt: skip
    assert [r.describe() for r in reads if access.allows(PULL_REQUEST_IDENTITY, r)] == []


@pytest.fixture
def tracking_server(runner, tmp_path):
    """`mlflow server` on the test's registry, as k8s/mlflow.yml runs it in the cluster: every request but /health
    signs in (MLflow's basic-auth app with the app's rule, set up as docs/operations.md says, with the app's user and
    the pull requests'). Its host:port."""
    _, settings = runner
    port, log_path = free_port(), tmp_path / "mlflow-server.log"
    auth_config = tmp_path / "basic_auth.ini"
    auth_config.write_text(
        f"[mlflow]\ndefault_permission = EDIT\ndatabase_uri = sqlite:///{tmp_path / 'auth.db'}\n"
        f"admin_username = {ADMIN[0]}\nadmin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.mlflow_tracking_uri,
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--app-name", SIGN_IN_APP]  # fmt: skip
    if read_only_root_problem() is None:  # as its pod runs it: nothing written but /tmp
        command = on_a_read_only_root(command)
    with log_path.open("wb") as log:  # run in tmp_path: the server's default artifact folder is in its cwd
        server = subprocess.Popen(command, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
                                  env={**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
                                       "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key",
                                       "MLFLOW_CHALLENGER_USERS": PULL_REQUEST_USER[0],
                                       **TRACKING_SERVER_ENVIRONMENT})  # fmt: skip
    try:
        wait_until_started(server, lambda: answers(f"http://127.0.0.1:{port}"), requests.RequestException, 120,
                           log_path.read_text)  # fmt: skip
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        for username, password in (APP_USER, PULL_REQUEST_USER):
            requests.post(f"{api}/users/create", auth=ADMIN, timeout=30,
                          json={"username": username, "password": password}).raise_for_status()  # fmt: skip
            # deleting an alias takes MANAGE on the model, which docs/operations.md grants both
            requests.post(f"{api.replace('2.0', '3.0')}/users/permissions/grant", auth=ADMIN, timeout=30,
                          json={"username": username, "resource_type": "registered_model", "permission": "MANAGE",
                                "resource_id": open_registry(settings).model_name}).raise_for_status()  # fmt: skip
        # The server checks the password at every request: with scrypt's hashes (0.15 s each, more on a busy machine)
        # that was most of these tests' time. Who may do what, which they test, does not depend on the hash.
        with contextlib.closing(sqlite3.connect(tmp_path / "auth.db")) as auth, auth:
            auth.executemany("UPDATE users SET password_hash = ? WHERE username = ?",
                             [(generate_password_hash(password, "pbkdf2:sha256:1"), username)
                              for username, password in (ADMIN, APP_USER, PULL_REQUEST_USER)])  # fmt: skip
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def test_promote_moves_integration_to_uat_and_deploys_uat_reaching_the_registry_through_a_port_forward(
    runner, kubectl, tracking_server, monkeypatch, capsys
):
    run, settings = runner
    registry = open_registry(settings)  # the test reads the server's database directly
    run.context["vars.MLFLOW_TRACKING_URI"] = ""  # no address the runners reach: the setup action forwards a port
    run.context["vars.CLUSTER_MLFLOW_TRACKING_URI"] = ""
    monkeypatch.setenv("KUBECTL_SERVICE_ADDRESS", tracking_server)  # where the stand-in's port-forward leads
    with pytest.raises(AssertionError, match="The environment it promotes to"):
        run.run_job("promote.yml", "plan")  # with no user of the tracking server: it answers 401
    assert "401" in capsys.readouterr().err
    run.context["secrets.MLFLOW_TRACKING_USERNAME"], run.context["secrets.MLFLOW_TRACKING_PASSWORD"] = APP_USER

    planned = run.run_job("promote.yml", "plan")
    run.context["needs.plan.outputs.target"] = planned["target"]
    run.run_job("promote.yml", "promote")

    assert planned == {"target": "uat"}
    assert registry.deployment("uat") == registry.deployment("integration")
    assert [(e.action, e.source) for e in registry.events("uat")] == [("promote", "integration")]
    assert ["port-forward", "--namespace", "mlflow", "service/mlflow"] in [call[:4] for call in kubectl.calls()]
    assert run.job_variables()["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    uat = "{{ cookiecutter.app_name | replace('_', '-') }}-uat"
    sent = kubectl.deployed()
    assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in sent} == {uat}
    settings_map = next(o for o in sent if o["metadata"]["name"].startswith("app-settings-"))
    in_cluster = "http://mlflow.mlflow.svc.cluster.local:5000"
    assert settings_map["data"]["MLFLOW_TRACKING_URI"] == in_cluster  # the pods' address, not this runner's forward
    secret = next(o for o in sent if o["kind"] == "Secret")["stringData"]
    assert (secret["MLFLOW_TRACKING_USERNAME"], secret["MLFLOW_TRACKING_PASSWORD"]) == APP_USER  # the pods sign in


def test_a_pull_request_s_user_of_the_tracking_server_changes_its_challenger_and_no_other_environment(
    runner, kubectl, tracking_server, monkeypatch
):
    run, settings = runner
    registry = open_registry(settings)  # the test reads the server's database directly
    run.context["vars.MLFLOW_TRACKING_URI"] = run.context["vars.CLUSTER_MLFLOW_TRACKING_URI"] = ""
    monkeypatch.setenv("KUBECTL_SERVICE_ADDRESS", tracking_server)  # where the stand-in's port-forward leads
    run.context["secrets.MLFLOW_TRACKING_USERNAME"], run.context["secrets.MLFLOW_TRACKING_PASSWORD"] = PULL_REQUEST_USER
    integration, history = registry.deployment("integration"), registry.events()

    run.run_job("challenger-test.yml", "challenger")
    assert registry.deployment("pr-7").model_version == integration.model_version

    url = f"http://{tracking_server}"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", PULL_REQUEST_USER[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PULL_REQUEST_USER[1])
    client, model, version = MlflowClient(url, url), registry.model_name, str(integration.model_version)
    trained_in = client.get_model_version(model, version).run_id
    history_id = client.get_experiment_by_name(HISTORY_EXPERIMENT.format(model_name=model)).experiment_id
    entry = client.search_runs([history_id], "tags.environment = 'integration'")[0].info.run_id
    attempts = {
        "move integration's alias": lambda: client.set_registered_model_alias(model, "integration", version),
        "delete production's alias": lambda: client.delete_registered_model_alias(model, "production"),
        "set the app integration runs": lambda: client.set_registered_model_tag(model, "app.integration", "{}"),
        "make uat a shadow of production": lambda: client.set_registered_model_tag(model, SHADOW_TAG + "uat", "{}"),
        "change a version's tags": lambda: client.set_model_version_tag(model, version, "input_schema", "{}"),
        "rename the model": lambda: client.rename_registered_model(model, "another"),
        "delete it": lambda: client.delete_registered_model(model),
        "write integration's history": lambda: client.create_run(history_id, tags={"environment": "integration"}),
        "delete an entry of it": lambda: client.delete_run(entry),
        "take over a training run": lambda: client.set_tag(trained_in, "environment", "pr-7"),
    }
    refused = {}
    for name, attempt in attempts.items():
        with pytest.raises(MlflowException) as raised:
            attempt()
        refused[name] = raised.value.error_code
    artifact = f"{url}/api/2.0/mlflow-artifacts/artifacts/pr-7/notes.txt"
    writes = [requests.put(artifact, data=b"first", auth=PULL_REQUEST_USER, timeout=30).status_code,
              requests.put(artifact, data=b"second", auth=PULL_REQUEST_USER, timeout=30).status_code,
              requests.delete(artifact, auth=PULL_REQUEST_USER, timeout=30).status_code]  # fmt: skip

    # What the challenger's own worker does, through the server's artifact store: train, register, move pr-7, record
    own = ModelRegistry(url, "mlflow-artifacts:/", f"{model} of pull requests")
    registered = own.register(*a_small_model(), {ENVIRONMENT_TAG: "pr-7"}, {}, {})
    own.set_alias("pr-7", registered)
    own.record_event(EnvironmentEvent("retrain", "pr-7", Deployment(), Deployment(registered)))
    shadow = Shadow("pr-7", "integration", 0.1, cluster_service_url("pr-7"))
    ModelRegistry(url, "mlflow-artifacts:/", model).record_shadow(shadow)  # as its deploy apply does

    assert refused == dict.fromkeys(attempts, "PERMISSION_DENIED")
    assert writes == [200, 403, 403]  # a file is written once
    assert own.champion_version("pr-7") == registered and [e.action for e in own.events("pr-7")] == ["retrain"]
    assert requests.get(artifact, auth=PULL_REQUEST_USER, timeout=30).content == b"first"
    assert registry.deployment("integration") == integration and registry.shadows() == [shadow]
    assert [e for e in registry.events() if e.environment != "pr-7"] == history

    run.run_job("challenger-test.yml", "delete-challenger")

    assert registry.challengers() == {} and registry.deployment("pr-7").model_version is None
    assert registry.shadows() == []


def test_the_pull_request_s_comment_is_posted_by_a_job_that_may_only_comment_and_runs_no_pull_request_code():
    workflows = {path.name: yaml.safe_load(path.read_text()) for path in WORKFLOWS.glob("*.yml")}
    commenter = workflows["challenger-report.yml"]
    job = commenter["jobs"]["comment"]

    assert commenter[True] == {"workflow_run": {"workflows": ["challenger-test"], "types": ["completed"]}}  # `on:`
    assert commenter["permissions"] == {} and job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert not [name for name, workflow in workflows.items() if "pull_request_target" in workflow[True]]
    checkouts = [step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@")]
    assert [step["with"] for step in checkouts] == [{"persist-credentials": False}]  # the default branch's commit
    # The jobs that run the pull request's code write nothing to GitHub: their report leaves as an artifact.
    for name, tester in workflows["challenger-test.yml"]["jobs"].items():
        assert set(tester.get("permissions", workflows["challenger-test.yml"]["permissions"])) <= {
            "contents", "id-token"}, name  # fmt: skip
    steps = workflows["challenger-test.yml"]["jobs"]["report"]["steps"]
    assert steps[-1]["uses"].startswith("actions/upload-artifact@") and steps[-1]["with"]["name"] == "challenger-report"


SECOND_PUSH = "fedcba9876543210fedcba9876543210fedcba98"


def test_a_pull_request_gets_one_comment_with_its_challenger_report_which_each_push_edits(
    runner, kubectl, tracking_server, monkeypatch, tmp_path
):
    run, settings = runner
    registry = open_registry(settings)  # the test reads the server's database directly
    run.context["vars.MLFLOW_TRACKING_URI"] = run.context["vars.CLUSTER_MLFLOW_TRACKING_URI"] = ""
    monkeypatch.setenv("KUBECTL_SERVICE_ADDRESS", tracking_server)  # where the stand-in's port-forward leads
    run.context["secrets.MLFLOW_TRACKING_USERNAME"], run.context["secrets.MLFLOW_TRACKING_PASSWORD"] = PULL_REQUEST_USER
    run.run_job("challenger-test.yml", "challenger")
    # The rows the challenger's integration tests upload, and the retrain its worker runs on them: a model of its own.
    open_datastore(settings, "pr-7").append(data_rows("dataset_2.csv", 600))
    trained = retrain(settings.for_environment("pr-7"))
    champion = registry.champion_version("integration")

    run.run_job("challenger-test.yml", "report")

    artifact = run.root / "challenger-report"
    report = json.loads((artifact / "report.json").read_text())
    comment = (artifact / "comment.md").read_text()
    assert (report["champion"]["version"], report["challenger"]["version"]) == (champion, trained.challenger_version)
    # the rows and scores of the retrain that compared the same two models
    assert (report["rows"], report["rows_hash"]) == (trained.test_rows, trained.test_rows_hash)
    assert report["challenger"]["score"] == pytest.approx(trained.challenger_score)
    assert report["champion"]["score"] == pytest.approx(trained.champion_score)
    assert comment.startswith(MARKER)
    assert f"{trained.champion_score:.4f}" in comment and f"{trained.challenger_score:.4f}" in comment
    assert f"Both scored on the same {trained.test_rows:,} held-out rows" in comment
    assert f"They disagree on **{report['disagreements']:,}**" in comment
    groups = [row["group"] for row in report["breakdown"]]
    assert len(groups) > 1 and all(f"| {group} " in comment for group in groups[:50])
    assert "Rows they disagree on" not in comment  # the data's own rows stay in the artifact
    assert ("Rows they disagree on" in (artifact / "report.md").read_text()) == bool(report["disagreements"])

    repository = Repository("my-org/app", token="token-of-the-run", heads={7: SHA})
    for number in range(120):  # the report's comment lands on the second page of the conversation
        repository.comment(7, f"comment {number}")
    quoted = repository.comment(7, f"{MARKER} quoted by a person, which is not the report")
    runner_temp = tmp_path / "runner-temp"
    monkeypatch.setenv("RUNNER_TEMP", str(runner_temp))
    monkeypatch.setenv("GITHUB_REPOSITORY", repository.name)
    run.context.update({"github.token": repository.token, "github.event.workflow_run.head_sha": SHA,
                        "github.event.workflow_run.id": "4242", "runner.temp": str(runner_temp)})  # fmt: skip
    with github_api(repository) as api_url:
        monkeypatch.setenv("GITHUB_API_URL", api_url)
        shutil.copytree(artifact, runner_temp / "challenger-report")  # where the download step puts it
        run.run_job("challenger-report.yml", "comment")
        # The next push: its challenger is tested and reported again, and edits the one comment.
        repository.heads[7] = run.context["github.event.pull_request.head.sha"] = SECOND_PUSH
        run.context["github.event.workflow_run.head_sha"] = SECOND_PUSH
        run.run_job("challenger-test.yml", "report")
        shutil.rmtree(runner_temp / "challenger-report")
        shutil.copytree(artifact, runner_temp / "challenger-report")
        run.run_job("challenger-report.yml", "comment")

        posted = repository.posted()
        reports = [c for c in repository.comments[7] if c["user"]["login"] == "github-actions[bot]"]
        assert [(method, path) for method, path, _ in posted] == [
            ("POST", f"/repos/{repository.name}/issues/7/comments"),
            ("PATCH", f"/repos/{repository.name}/issues/comments/{reports[0]['id']}"),
        ]
        assert len(reports) == 1 and reports[0]["body"] == (artifact / "comment.md").read_text()
        assert quoted["body"].endswith("quoted by a person, which is not the report")

        # A newer push than the run's: its own run will comment; this one changes nothing.
        repository.heads[7] = "1" * 40
        run.run_job("challenger-report.yml", "comment")
        assert repository.posted() == posted
        # An artifact naming another pull request (say, a fork's run forging it) is refused.
        monkeypatch.setenv("GITHUB_TOKEN", repository.token)
        repository.heads[8] = "2" * 40
        named = runner_temp / "challenger-report" / "pull_request.json"
        named.write_text(json.dumps({"number": 8, "head_sha": "2" * 40}))
        assert main(["pull-request", "comment", str(named.parent), "--head-sha", SECOND_PUSH]) == 2
        named.write_text(json.dumps({"number": 8, "head_sha": SECOND_PUSH}))
        assert main(["pull-request", "comment", str(named.parent), "--head-sha", SECOND_PUSH]) == 0  # not 8's head
        assert repository.posted() == posted
