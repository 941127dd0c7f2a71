"""The deploy commands: what an environment runs, its image, its Kubernetes objects, and tests against it.

`python -m {{ cookiecutter.app_name }} deploy [ACTION]`, local/set_environment_configs.py,
local/bigquery/set_service_account_key.py and local/lock_requirements.py. The GitHub workflows call these, step by step.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

from ..config import APP_NAME, FixFirstError, Settings, child_environment, cluster_service_url, load_settings
from ..datastore.credentials import KEY_FILE, read_service_account_key
from ..deploy import dask_objects, manifests
from ..deploy.tools import apply_or_print, kubectl, kubectl_apply, lock_requirements, port_forward, run_tool
from ..environments import component_file as components
from ..environments import deploy, deploy_checkout, environments
from ..environments.deployments import known_environment
from ..environments.shadows import record_shadow
from ..provenance import app_version
from ..registry import Deployment, open_registry
from .command import EXIT_OK, CommandParser, prog, run, write_for_github
from .environments import describe_change

RUNNING_TAG = "the image tag to run (default: the app version the environment runs)"


def deploy_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("deploy"),
        description="Record that an environment runs this checkout's app version and app config (its model stays); "
        f"with --from-component-config, make it run exactly what {components.COMPONENT_CONFIG} lists. The actions "
        "build its image, render or apply its Kubernetes objects, remove a challenger's, and test it.",
    )
    parser.add_argument(
        "--from-component-config",
        action="store_true",
        help=f"deploy the model version, app version and app config that {components.COMPONENT_CONFIG} lists",
    )
    parser.add_argument(
        "--app-version", help="with --from-component-config: the app version to run instead (e.g. the image just built)"
    )
    parser.set_defaults(handler=record_deployment)
    actions = parser.actions(metavar="ACTION")

    build = actions.add_parser("build", help="build the image of the app, worker and beat (and --push it)")
    build.add_argument("--push", action="store_true", help="push the image to container_registry")
    build.add_argument("--image-tag", help="default: this checkout's app version (APP_VERSION, else its git commit)")
    build.set_defaults(handler=build_image)

    render = actions.add_parser("render", help="print the environment's Kubernetes objects as YAML")
    render.add_argument("--image-tag", help=RUNNING_TAG)
    render.set_defaults(handler=render_objects)
    apply = actions.add_parser(
        "apply", help="kubectl-apply those objects (and the API-key Secret, from API_KEY if set)"
    )
    apply.add_argument("--image-tag", help=RUNNING_TAG)
    apply.add_argument("--wait", action="store_true", help="wait until every Deployment has rolled out")
    apply.set_defaults(handler=apply_objects)

    score = actions.add_parser(
        "predict-table",
        help="score the environment's table on Dask in the cluster: a DaskJob running predict-table on a Dask cluster "
        "of its own (training_engine dask or auto)",
    )
    score.add_argument("--query", help="score this query's rows (the data source's SQL) instead of the table")
    score.add_argument("--output", help="the table to write (default: <table>_<environment>_scored)")
    score.add_argument("--image-tag", help=RUNNING_TAG)
    score.add_argument("--render", action="store_true", help="print the DaskJob instead of creating it")
    score.set_defaults(handler=predict_table_job)

    actions.add_parser("remove", help="delete a challenger's namespace").set_defaults(handler=remove_namespace)
    test = actions.add_parser("test", help="run pytest against the environment (APP_URL, else a port-forward)")
    test.add_argument("-m", dest="markers", default="smoke", help="the tests to run (default smoke)")
    test.set_defaults(handler=pytest_environment)

    def command(args: argparse.Namespace) -> int:
        if args.action and (args.from_component_config or args.app_version):
            parser.error(f"--from-component-config and --app-version are not options of `deploy {args.action}`")
        if args.app_version and not args.from_component_config:
            parser.error("--app-version goes with --from-component-config")
        return args.handler(load_settings(args.environment), args)

    return run(command, parser, argv)


def record_deployment(settings: Settings, args: argparse.Namespace) -> int:
    """Record this checkout, or what the component config lists, as what the environment runs."""
    registry, target = open_registry(settings), settings.environment
    if not args.from_component_config:
        event = deploy_checkout(settings, registry, target)
        print("Deployed this checkout: " + describe_change(event, target, registry))
        return EXIT_OK
    listed = components.read_committed(settings.root)
    wanted = components.deployment_of(listed, settings)
    if args.app_version:
        wanted = Deployment(wanted.model_version, args.app_version, wanted.app_config)
    event = deploy(settings, registry, target, wanted, source=str(listed.get("environment", "")))
    print(f"Deployed {components.COMPONENT_CONFIG}: " + describe_change(event, target, registry))
    return EXIT_OK


def build_image(settings: Settings, args: argparse.Namespace) -> int:
    """docker build (and push) the one image of the app, worker and beat, tagged with the app version."""
    image = manifests.image_name(settings, args.image_tag or app_version(settings))
    run_tool("docker", "build", "--file", "docker/Dockerfile", "--tag", image, ".", cwd=settings.root)
    if args.push:
        if shutil.which("gcloud"):  # lets docker push to Artifact Registry with the gcloud credentials
            run_tool("gcloud", "auth", "configure-docker", image.split("/")[0], "--quiet")
        run_tool("docker", "push", image)
    print(f"{'Pushed' if args.push else 'Built'} {image}")
    return EXIT_OK


def environment_objects(settings: Settings, image_tag: str | None) -> list[dict]:
    """The environment's Kubernetes objects, running `image_tag` or else the app version recorded for it."""
    registry = open_registry(settings)
    image_tag = running_tag(settings, registry, image_tag)
    return manifests.render(settings, image_tag, copied_from=registry.challengers().get(settings.environment))


def running_tag(settings: Settings, registry, image_tag: str | None) -> str:
    """`image_tag`, else the app version recorded for the (known) environment: the tag of the image it runs."""
    known_environment(settings, registry, settings.environment)
    if image_tag is None:
        image_tag = registry.deployment(settings.environment).app_version
    if image_tag is None:
        raise FixFirstError(
            f"no app version is recorded for [{settings.environment}], so there is no image tag to run: deploy it "
            f"first (`{prog('deploy --from-component-config')}`), or pass --image-tag"
        )
    return image_tag


def render_objects(settings: Settings, args: argparse.Namespace) -> int:
    print(manifests.as_yaml(environment_objects(settings, args.image_tag)), end="")
    return EXIT_OK


def apply_objects(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the namespace (and the Secret) first, then everything else as the namespace's ApplySet: what the last
    apply sent and this one does not is deleted. The Secret stays out of the set, so an apply without API_KEY
    keeps it."""
    objects = environment_objects(settings, args.image_tag)
    first = [o for o in objects if o["kind"] == "Namespace"]
    members = [o for o in objects if o["kind"] != "Namespace"]
    if settings.variables.api_key:  # CI has it as a secret; it goes to the cluster, not to the log
        secret = manifests.secrets_object(settings, settings.variables.api_key)
        manifests.restarted_with(members, secret)
        first.append(secret)
    namespace = settings.kubernetes_namespace
    print(kubectl_apply(manifests.as_yaml(first)))
    print(kubectl_apply(manifests.as_yaml(members), applyset=manifests.APPLYSET, namespace=namespace))
    for rollout in (o for o in objects if o["kind"] == "Deployment" and args.wait):
        print(
            kubectl(
                "rollout",
                "status",
                f"deployment/{rollout['metadata']['name']}",
                "--namespace",
                namespace,
                "--timeout",
                "600s",
            )
        )
    # Where the environments it shadows (shadow_of) mirror their requests to: its Service, answering once applied.
    shadow = record_shadow(settings, open_registry(settings), cluster_service_url(settings.environment))
    if shadow:
        print(f"{shadow.name} shadows {shadow.shadow_of}: {shadow.share:.0%} of its /predict requests, at {shadow.url}")
    return EXIT_OK


def predict_table_job(settings: Settings, args: argparse.Namespace) -> int:
    """Create (or print) a DaskJob that runs predict-table in the environment's namespace, with the image it runs."""
    if settings.app.training_engine not in ("dask", "auto"):
        raise FixFirstError(
            "training_engine is local in config/app_config.yml, so the environment has no Dask access "
            f"({manifests.DASK}, which keeps other pods from its Dask pods): set it to dask or auto and deploy apply, "
            f"or score on one node with `{prog('predict-table')}`"
        )
    image = manifests.image_name(settings, running_tag(settings, open_registry(settings), args.image_tag))
    arguments = [*(["--query", args.query] if args.query else []), *(["--output", args.output] if args.output else [])]
    name = f"{manifests.WEB}-score-{datetime.now(UTC):%Y%m%d%H%M%S}"
    job = manifests.as_yaml([dask_objects.predict_table_job(settings, image, name, arguments)])
    if args.render:
        print(job, end="")
        return EXIT_OK
    print(kubectl("create", "-f", "-", manifest=job))
    print(f"Follow it with: kubectl get daskjob {name} --namespace {settings.kubernetes_namespace} --watch")
    return EXIT_OK


def remove_namespace(settings: Settings, args: argparse.Namespace) -> int:
    """Delete a challenger's namespace and everything in it; the chain's environments are never removed this way."""
    known_environment(settings, open_registry(settings), settings.environment)
    if settings.environment in settings.app.environments:
        raise FixFirstError(f"{settings.environment} is part of the promotion chain: its namespace is not removed")
    print(kubectl("delete", "namespace", settings.kubernetes_namespace, "--ignore-not-found", "--wait=false"))
    return EXIT_OK


def pytest_environment(settings: Settings, args: argparse.Namespace) -> int:
    known_environment(settings, open_registry(settings), settings.environment)
    return run_tests_against(settings, args.markers)


def run_tests_against(settings: Settings, markers: str) -> int:
    """pytest -m MARKERS against the environment: APP_URL if set, else its Service through kubectl port-forward."""
    api_key = settings.variables.api_key
    if not api_key:
        raise FixFirstError("API_KEY is not set: the tests call the app's API with the environment's key")
    if settings.variables.app_url:
        return run_pytest(settings, markers, settings.variables.app_url, api_key)
    service = APP_NAME.replace("_", "-")
    forward, url = port_forward(settings.kubernetes_namespace, service, 80, settings.state_dir / "port-forward.log")
    try:
        return run_pytest(settings, markers, url, api_key)
    finally:
        forward.terminate()
        forward.wait()


def run_pytest(settings: Settings, markers: str, url: str, api_key: str) -> int:
    """pytest -m MARKERS with APP_URL = `url`; in a GitHub job, its results also go to the job's summary page."""
    print(f"pytest -m {markers} against {url}", flush=True)
    env = child_environment({"APP_URL": url, "API_KEY": api_key})
    with tempfile.TemporaryDirectory(prefix="pytest-") as scratch:
        results = Path(scratch) / "results.xml"
        finished = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", markers, "-q", "-p", "no:cacheprovider", f"--junitxml={results}"],
            cwd=settings.root,
            env=env,
        )
        write_for_github(
            settings.variables.github_step_summary, results_summary(settings.environment, markers, results)
        )
    return finished.returncode


def results_summary(environment: str, markers: str, results: Path) -> str:
    """Markdown for a job summary: the counts, and each failed test with the first line of why."""
    heading = f"### pytest -m {markers} against [{environment}]"
    try:
        suites = ElementTree.parse(results).getroot()
    except (OSError, ElementTree.ParseError):
        return f"{heading}: no results were written (see the log)\n"
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    if suite is None:
        return f"{heading}: no results were written (see the log)\n"
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    lines = [
        f"{heading}: {passed} passed, {failed} failed, "
        f"{counts['skipped']} skipped in {float(suite.get('time', 0)):.1f} s",
        "",
    ]
    for case in suite.iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            why = (problem.get("message") or "").splitlines()[:1] or ["(no message)"]
            lines.append(f"- `{case.get('name')}`: {why[0]}")
    return "\n".join(lines) + "\n"


def set_environment_configs_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("set-environment-configs"),
        description="Check every config/environment_<name>.yml and store each as the ConfigMap "
        f"{manifests.ENVIRONMENT_CONFIG_MAP!r} in its environment's namespace, where the deployed app reads it "
        "(applied with kubectl, or printed with --dry-run). Environment config stays with its environment: "
        "promotion does not move it, so run this again whenever you change one.",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the ConfigMaps as YAML instead of applying them")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        if args.environment:
            names = [args.environment]
        else:
            names = [info.name for info in environments(settings, open_registry(settings))]
        manifest = manifests.environment_config_maps(settings, names)  # every file is checked before any is applied
        apply_or_print(manifest, args.dry_run)
        return EXIT_OK

    return run(command, parser, argv)


def set_service_account_key_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("set-service-account-key"),
        description=f"Store {KEY_FILE} as a Kubernetes Secret in the environment's namespace, where the deployed "
        "app reads it (applied with kubectl, or printed with --dry-run).",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the Secret as YAML instead of applying it")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        manifest = manifests.service_account_secret(settings, read_service_account_key(settings.root / KEY_FILE))
        apply_or_print(manifest, args.dry_run)
        return EXIT_OK

    return run(command, parser, argv)


def lock_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("lock"),
        description="Lock pyproject.toml's requirements with uv into requirements.txt (what the image installs), "
        "requirements-dev.txt (the tests and linters too) and requirements-tracking-server.txt (the tracking "
        "server's image): every package pinned with its hashes, for every platform. Pins already there stay unless "
        "pyproject.toml needs others.",
    )
    parser.add_argument("--upgrade", action="store_true", help="take the newest releases pyproject.toml allows")

    def command(args: argparse.Namespace) -> int:
        for lock in lock_requirements(load_settings(args.environment).root, args.upgrade):
            print(f"locked {lock}")
        return EXIT_OK

    return run(command, parser, argv)
