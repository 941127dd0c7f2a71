"""The environment commands: status, env, promote, rollback, history, deploy, component-config.

`python -m {{ cookiecutter.app_name }} ...`, local/create_challenger.py, local/set_environment_configs.py and the git
hook call these. Exit codes as in cli.py: 0 done, 2 something to fix first (the message says what), 1 a crash; the
component-config snapshot exits 1 when the file is out of date and no one said to write it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

import requests
from tabulate import tabulate

from . import manifests
from .cli import EXIT_OK, kubectl, kubectl_apply, run, run_tool
from .config import APP_NAME, SELECTED_ENVIRONMENT_FILE, FixFirstError, Settings, load_settings
from .datastore import DataStoreError, open_datastore
from .environments import component_config as components
from .environments import (
    create_challenger,
    delete_environment,
    deploy,
    deploy_checkout,
    environments,
    promote,
    promotes_to,
    rollback,
)
from .environments.deployments import known_environment
from .local_processes import free_port, wait_until_started
from .manifests import ENVIRONMENT_CONFIG_MAP, environment_config_maps
from .provenance import app_version
from .registry import Deployment, EnvironmentEvent, ModelRegistry, open_registry

EXIT_OUT_OF_DATE = 1  # the component config differs from the environment and was not rewritten


def prog(command: str) -> str:
    return f"python -m {APP_NAME} {command}"


def status_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("status"), description="The selected environment, and what every environment runs and holds."
    )

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        print(f"Selected environment: [{settings.environment}] ({selection_source(settings)})")
        print(f"Registry: {settings.mlflow_tracking_uri}\n")
        print(environment_table(settings))
        return EXIT_OK

    return run(command, parser, argv)


def selection_source(settings: Settings) -> str:
    if os.environ.get("APP_ENVIRONMENT"):
        return "from APP_ENVIRONMENT"
    if (settings.root / SELECTED_ENVIRONMENT_FILE).is_file():
        return f"from {SELECTED_ENVIRONMENT_FILE}; change it with `{prog('env select NAME')}`"
    return f"the default; choose another with `{prog('env select NAME')}`"


def environment_table(settings: Settings) -> str:
    """Every environment: where it promotes to, the model and app it runs, its rows, and whose challenger it is."""
    registry = open_registry(settings)
    scores = {version.version: version.score for version in registry.versions()}
    rows = []
    for info in environments(settings, registry):
        running = registry.deployment(info.name)
        try:
            data = f"{open_datastore(settings, info.name).count()} rows"
        except DataStoreError:
            data = "no data yet"
        model, score = running.model_version, scores.get(running.model_version)
        rows.append([
            "*" if info.name == settings.environment else "",
            info.name,
            info.promotes_to or "",
            f"v{model}" if model else "",
            "" if score is None else f"{score:.4f}",
            running.app_version or "",
            data,
            f"challenger of {info.challenger_of}" if info.challenger_of else "",
        ])  # fmt: skip
    headers = ["", "environment", "promotes to", "model", settings.app.score_type, "app", "data", ""]
    return tabulate(rows, headers=headers, disable_numparse=True)  # scores as formatted above, not re-rounded


def env_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("env"), description="List, select, copy and delete environments.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every environment: where it promotes to, the model and app it runs, its rows")
    select = actions.add_parser("select", help="work on NAME from now on, in this checkout (APP_ENVIRONMENT wins)")
    select.add_argument("name")
    challenger = actions.add_parser("challenger", help="challenger create NAME [--from ENV]")
    create = challenger.add_subparsers(dest="challenger_action", required=True, metavar="create").add_parser(
        "create", help="copy an environment's data, model and app versions and config into a new environment NAME"
    )
    create.add_argument("name")
    source = create.add_mutually_exclusive_group()
    source.add_argument("--from", dest="source", help="the environment to copy (default: the selected one)")
    source.add_argument(
        "--from-component-config",
        action="store_true",
        help=f"copy the environment {components.COMPONENT_CONFIG} was taken from (what CI does for a pull request)",
    )
    create.add_argument("--replace", action="store_true", help="delete challenger NAME first if it exists")
    delete = actions.add_parser("delete", help="delete a challenger: its data, model alias, app record and config")
    delete.add_argument("name")
    delete.add_argument("--missing-ok", action="store_true", help="succeed if there is no such challenger (CI)")
    following = actions.add_parser(
        "next", help="the environment ENV promotes to (also written to $GITHUB_OUTPUT as target=...)"
    )
    following.add_argument("name", metavar="ENV")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        if args.action == "list":
            print(environment_table(settings))
        elif args.action == "select":
            select_environment(settings, args.name)
            print(f"Selected [{args.name}]: commands in this checkout now work on it.")
        elif args.action == "challenger":
            if args.replace and args.name in open_registry(settings).challengers():
                print(f"Deleted the earlier [{args.name}]: {', '.join(delete_environment(settings, args.name))}.")
            print_challenger(settings, args.name, challenger_source(settings, args))
        elif args.action == "next":
            print_next(settings, args.name)
        elif args.missing_ok and args.name not in open_registry(settings).challengers():
            print(f"There is no challenger [{args.name}]: nothing to delete.")
        else:
            removed = delete_environment(settings, args.name)
            print(f"Deleted [{args.name}]: {', '.join(removed) or 'nothing was left of it'}.")
            selection = settings.root / SELECTED_ENVIRONMENT_FILE
            if selection.is_file() and selection.read_text().strip() == args.name:
                selection.unlink()
                print(f"It was selected in this checkout; commands now work on [{load_settings().environment}].")
        return EXIT_OK

    return run(command, parser, argv)


def challenger_source(settings: Settings, args: argparse.Namespace) -> str:
    if not args.from_component_config:
        return args.source or settings.environment
    return str(components.read_committed(settings.root)["environment"])


def print_next(settings: Settings, environment: str) -> None:
    """Where `environment` promotes to, for people and for a GitHub job that must know it before it starts."""
    target = promotes_to(settings, open_registry(settings), environment)
    if not target:
        raise FixFirstError(f"{environment} promotes to no environment: it is not in {list(settings.app.environments)}"
                            " or is the end of the chain")  # fmt: skip
    print(target)
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as output:
            output.write(f"target={target}\n")


def print_challenger(settings: Settings, name: str, source: str) -> None:
    made = create_challenger(settings, name, source)
    print(f"Created challenger [{name}] of [{source}]:")
    for line in made:
        print(f"  {line}")


def select_environment(settings: Settings, name: str) -> None:
    known_environment(settings, open_registry(settings), name)
    (settings.root / SELECTED_ENVIRONMENT_FILE).write_text(name + "\n")


def create_challenger_command(argv: Sequence[str] | None = None) -> int:
    """local/create_challenger.py <challenger-name> <from-environment-name>, as the reference guides name it."""
    parser = argparse.ArgumentParser(
        description="Create a challenger environment: a copy of an environment's data, model and app versions "
        "and config."
    )
    parser.add_argument("name", help="the challenger's name, e.g. production_owen or pr-42")
    parser.add_argument("source", metavar="from", help="the environment to copy, e.g. production")

    def command(args: argparse.Namespace) -> int:
        print_challenger(load_settings(args.environment), args.name, args.source)
        return EXIT_OK

    return run(command, parser, argv)


def describe_change(event: EnvironmentEvent | None, environment: str, registry: ModelRegistry) -> str:
    if event is None:
        return f"[{environment}] already runs {registry.deployment(environment).describe()}; nothing moved."
    return f"[{environment}] now runs {event.after.describe()} (it ran {event.before.describe()})."


def promote_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("promote"),
        description="Move an environment's model version, app version and app config to the next environment of "
        "the chain, as one step: if any part fails, nothing moves.",
    )
    parser.add_argument("--from", dest="source", help="the environment to promote (default: the selected one)")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        source, registry = args.source or settings.environment, open_registry(settings)
        target, event = promote(settings, registry, source)
        print(f"Promoted [{source}] to [{target}]: " + describe_change(event, target, registry))
        return EXIT_OK

    return run(command, parser, argv)


def rollback_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("rollback"),
        description="Put an environment back as it was before its last change (model, app version and app "
        "config), or make it serve an earlier model version. Rolling back twice undoes the rollback.",
    )
    parser.add_argument("target", metavar="ENV", help="the environment to roll back")
    parser.add_argument("--to-version", type=int, metavar="N", help="serve model version N (the app stays)")

    def command(args: argparse.Namespace) -> int:
        settings, target = load_settings(args.environment), args.target
        registry = open_registry(settings)
        event = rollback(settings, registry, target, args.to_version)
        print("Rolled back: " + describe_change(event, target, registry))
        return EXIT_OK

    return run(command, parser, argv)


def history_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("history"),
        description="The audit trail: every promotion, rollback, deploy, retrain promotion and challenger, newest "
        "first, with who did it and the versions before and after.",
    )
    parser.add_argument("target", metavar="ENV", nargs="?", help="only this environment's changes")
    parser.add_argument("--limit", type=int, default=50, help="at most this many changes (default 50)")

    def command(args: argparse.Namespace) -> int:
        events = open_registry(load_settings(args.environment)).events(args.target, limit=args.limit)
        if not events:
            print(f"No changes recorded{f' for [{args.target}]' if args.target else ''} yet.")
            return EXIT_OK
        print(history_table(events))
        return EXIT_OK

    return run(command, parser, argv)


def history_table(events: Sequence[EnvironmentEvent]) -> str:
    def change(before, after, show) -> str:
        return show(after) if before == after else f"{show(before)} -> {show(after)}"

    def model(version: int | None) -> str:
        return f"v{version}" if version is not None else "-"

    rows = [
        [
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            event.action,
            event.environment,
            event.source,
            change(event.before.model_version, event.after.model_version, model),
            change(event.before.app_version, event.after.app_version, lambda app: app or "-"),
            event.who,
        ]
        for event in events
    ]
    return tabulate(rows, headers=["when (UTC)", "action", "environment", "from", "model", "app", "who"])


def deploy_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("deploy"),
        description="Record that an environment runs this checkout's app version and app config (its model stays); "
        f"with --from-component-config, make it run exactly what {components.COMPONENT_CONFIG} lists; with render "
        "or apply, print or kubectl-apply its Kubernetes manifests.",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["build", "render", "apply", "remove", "test"],
        help="build: build the image (and --push it); render: print the environment's manifests; apply: apply "
        "them with kubectl; remove: delete a challenger's namespace; test: run pytest against the environment",
    )
    parser.add_argument("--push", action="store_true", help="with build: push the image to container_registry")
    parser.add_argument("--wait", action="store_true", help="with apply: wait until every Deployment has rolled out")
    parser.add_argument("-m", dest="markers", default="smoke", help="with test: the tests to run (default smoke)")
    parser.add_argument(
        "--from-component-config",
        action="store_true",
        help=f"deploy the model version, app version and app config that {components.COMPONENT_CONFIG} lists",
    )
    parser.add_argument(
        "--app-version", help="with --from-component-config: the app version to run instead (e.g. the image just built)"
    )
    parser.add_argument(
        "--image-tag",
        help="the image tag; for build, default: this checkout's app version (APP_VERSION, else its git commit); "
        "for render and apply, default: the app version the environment runs",
    )

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        registry, target = open_registry(settings), settings.environment
        if args.action == "build":
            return build_image(settings, args.image_tag or app_version(settings.root), args.push)
        if args.action:
            known_environment(settings, registry, target)
        if args.action == "remove":
            return remove_namespace(settings)
        if args.action == "test":
            return run_tests_against(settings, args.markers)
        if args.action:
            objects = manifests.render(settings, args.image_tag or recorded_app_version(registry, target))
            if args.action == "render":
                print(manifests.as_yaml(objects), end="")
                return EXIT_OK
            if os.environ.get("API_KEY"):  # CI has it as a secret; it goes to the cluster, not to the log
                objects.insert(1, manifests.secrets_object(settings, os.environ["API_KEY"]))
            print(kubectl_apply(manifests.as_yaml(objects)))
            for rollout in (o for o in objects if o["kind"] == "Deployment" and args.wait):
                print(kubectl("rollout", "status", f"deployment/{rollout['metadata']['name']}",
                              "--namespace", settings.kubernetes_namespace, "--timeout", "600s"))  # fmt: skip
            return EXIT_OK
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

    return run(command, parser, argv)


def build_image(settings: Settings, tag: str, push: bool) -> int:
    """docker build (and push) the one image of the app, worker and beat, tagged with the app version."""
    image = manifests.image_name(settings, tag)
    run_tool("docker", "build", "--file", "docker/Dockerfile", "--tag", image, ".", cwd=settings.root)
    if push:
        if shutil.which("gcloud"):  # lets docker push to Artifact Registry with the gcloud credentials
            run_tool("gcloud", "auth", "configure-docker", image.split("/")[0], "--quiet")
        run_tool("docker", "push", image)
    print(f"{'Pushed' if push else 'Built'} {image}")
    return EXIT_OK


def remove_namespace(settings: Settings) -> int:
    """Delete a challenger's namespace and everything in it; the chain's environments are never removed this way."""
    if settings.environment in settings.app.environments:
        raise FixFirstError(f"{settings.environment} is part of the promotion chain: its namespace is not removed")
    print(kubectl("delete", "namespace", settings.kubernetes_namespace, "--ignore-not-found", "--wait=false"))
    return EXIT_OK


def run_tests_against(settings: Settings, markers: str) -> int:
    """pytest -m MARKERS against the environment: APP_URL if set, else its Service through kubectl port-forward."""
    api_key = os.environ.get("API_KEY")
    if not api_key:
        raise FixFirstError("API_KEY is not set: the tests call the app's API with the environment's key")
    if os.environ.get("APP_URL"):
        return run_pytest(settings, markers, os.environ["APP_URL"], api_key)
    port = free_port()
    service = f"service/{APP_NAME.replace('_', '-')}"
    forward = subprocess.Popen(["kubectl", "port-forward", "--namespace", settings.kubernetes_namespace, service,
                                f"{port}:80"], stdout=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        failed = f"kubectl port-forward to {service} in {settings.kubernetes_namespace} did not answer"
        health = lambda: requests.get(f"{url}/health", timeout=5).raise_for_status()  # noqa: E731
        wait_until_started(forward, health, requests.RequestException, 60, lambda: failed)
        return run_pytest(settings, markers, url, api_key)
    finally:
        forward.terminate()
        forward.wait()


def run_pytest(settings: Settings, markers: str, url: str, api_key: str) -> int:
    print(f"pytest -m {markers} against {url}", flush=True)
    env = {**os.environ, "APP_URL": url, "API_KEY": api_key}
    return subprocess.run([sys.executable, "-m", "pytest", "-m", markers, "-q", "-p", "no:cacheprovider"],
                          cwd=settings.root, env=env).returncode  # fmt: skip


def recorded_app_version(registry: ModelRegistry, environment: str) -> str:
    version = registry.deployment(environment).app_version
    if version is None:
        raise FixFirstError(
            f"no app version is recorded for [{environment}], so there is no image tag to run: deploy it first "
            f"(`{prog('deploy --from-component-config')}`), or pass --image-tag"
        )
    return version


def component_config_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("component-config"),
        description=f"Keep {components.COMPONENT_CONFIG} equal to what the selected environment runs.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="snapshot")
    snapshot = actions.add_parser(
        "snapshot",
        help="compare the file with the environment; if they differ, ask (on a terminal) and rewrite it",
    )
    snapshot.add_argument("--yes", action="store_true", help="rewrite the file without asking (for CI)")

    def command(args: argparse.Namespace) -> int:
        return snapshot_component_config(load_settings(args.environment), args.yes)

    return run(command, parser, argv)


def snapshot_component_config(settings: Settings, yes: bool) -> int:
    environment, path = settings.environment, settings.root / components.COMPONENT_CONFIG
    running = open_registry(settings).deployment(environment)
    live = components.as_mapping(settings, environment, running)
    committed = components.read(path)
    if committed == live:
        print(f"{components.COMPONENT_CONFIG} matches what [{environment}] runs.")
        return EXIT_OK
    print(f"{components.COMPONENT_CONFIG} differs from what [{environment}] runs:")
    print(components.difference(committed, live))
    if running.app_version is None:
        print(f"(No app version is recorded for [{environment}]: `{prog('deploy')}` records this checkout's.)")
    if not yes:
        answer = ask_on_terminal(
            f"Would you like to overwrite your local component_config with the one from [{environment}]?"
        )
        if answer is None:
            print(
                "No terminal to ask on: rewrite it with `python .git_hooks/pre-commit --yes`, "
                f"or select the environment you tested with (`{prog('env select NAME')}`).",
                file=sys.stderr,
            )
            return EXIT_OUT_OF_DATE
        if not answer:
            print(f"Kept {components.COMPONENT_CONFIG} as it is.")
            return EXIT_OK
    components.write(path, live)
    print(f"Wrote {components.COMPONENT_CONFIG} from [{environment}].")
    if os.environ.get("GIT_INDEX_FILE"):  # run by git as a hook: the new file is not in this commit yet
        print(f"Add it to the commit and commit again: git add {components.COMPONENT_CONFIG}", file=sys.stderr)
        return EXIT_OUT_OF_DATE
    return EXIT_OK


def ask_on_terminal(question: str) -> bool | None:
    """The person's y/n at the terminal, None if there is no terminal (CI, or a git client without one).

    It asks on /dev/tty, not stdin: git gives hooks no stdin, yet the person is at the terminal."""
    try:
        reader, writer = open("/dev/tty", encoding="utf-8"), open("/dev/tty", "w", encoding="utf-8")  # noqa: SIM115
    except OSError:
        return None
    with reader, writer:
        while True:
            writer.write(f"{question} [y/n] ")
            writer.flush()
            answer = reader.readline()
            if not answer:  # the terminal closed
                return None
            if answer.strip().lower() in ("y", "yes"):
                return True
            if answer.strip().lower() in ("n", "no"):
                return False


def set_environment_configs_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check every config/environment_<name>.yml and store each as the ConfigMap "
        f"{ENVIRONMENT_CONFIG_MAP!r} in its environment's namespace, where the deployed app reads it (applied "
        "with kubectl, or printed with --dry-run). Environment config stays with its environment: promotion does "
        "not move it, so run this again whenever you change one."
    )
    parser.add_argument("--dry-run", action="store_true", help="print the ConfigMaps as YAML instead of applying them")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        if args.environment:
            names = [args.environment]
        else:
            names = [info.name for info in environments(settings, open_registry(settings))]
        manifest = environment_config_maps(settings, names)  # every file is checked before anything is applied
        if args.dry_run:
            print(manifest, end="")
        else:
            print(kubectl_apply(manifest))
        return EXIT_OK

    return run(command, parser, argv)
