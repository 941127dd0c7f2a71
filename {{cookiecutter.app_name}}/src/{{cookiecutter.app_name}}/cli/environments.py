"""The environment commands: status, env, promote, rollback, history (and local/create_challenger.py).

Exit codes as in command.py: 0 done, 2 something to fix first (the message says what), 1 a crash.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tabulate import tabulate

from ..config import SELECTED_ENVIRONMENT_FILE, FixFirstError, Settings, load_settings
from ..datastore import DataStoreError, open_datastore
from ..environments import (
    approve,
    create_challenger,
    delete_environment,
    environments,
    promote,
    promotes_to,
    rollback,
)
from ..environments import component_file as components
from ..environments.deployments import known_environment
from ..registry import Deployment, EnvironmentEvent, ModelRegistry, open_registry
from .command import EXIT_OK, CommandParser, prog, run, write_for_github


def status_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
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
    if settings.variables.app_environment:
        return "from APP_ENVIRONMENT"
    if (settings.root / SELECTED_ENVIRONMENT_FILE).is_file():
        return f"from {SELECTED_ENVIRONMENT_FILE}; change it with `{prog('env select NAME')}`"
    return f"the default; choose another with `{prog('env select NAME')}`"


def environment_table(settings: Settings) -> str:
    """Every environment: where it promotes to, the model and app it runs, its rows, and whose challenger it is."""
    registry = open_registry(settings)
    scores = {version.version: version.score for version in registry.versions()}
    deployments = registry.deployments()  # one request for every environment, however many challengers there are
    rows = []
    for info in environments(settings, registry):
        running = deployments.get(info.name, Deployment())
        try:
            data = f"{open_datastore(settings, info.name).count()} rows"
        except DataStoreError:
            data = "no data yet"
        model, score = running.model_version, scores.get(running.model_version)
        rows.append(
            [
                "*" if info.name == settings.environment else "",
                info.name,
                info.promotes_to or "",
                f"v{model}" if model else "",
                "" if score is None else f"{score:.4f}",
                running.app_version or "",
                data,
                f"challenger of {info.challenger_of}" if info.challenger_of else "",
            ]
        )
    headers = ["", "environment", "promotes to", "model", settings.app.score_type, "app", "data", ""]
    return tabulate(rows, headers=headers, disable_numparse=True)  # scores as formatted above, not re-rounded


def env_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(prog=prog("env"), description="List, select, copy and delete environments.")
    actions = parser.actions(required=True, metavar="ACTION")
    actions.add_parser("list", help="every environment: where it promotes to, the model and app it runs, its rows")
    select = actions.add_parser("select", help="work on NAME from now on, in this checkout (APP_ENVIRONMENT wins)")
    select.add_argument("name")
    challenger = actions.add_parser("challenger", help="challenger create NAME [--from ENV]")
    create = challenger.actions(dest="challenger_action", required=True, metavar="create").add_parser(
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
            create_and_show_challenger(settings, args.name, challenger_source(settings, args))
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
        raise FixFirstError(
            f"{environment} promotes to no environment: it is not in {list(settings.app.environments)}"
            " or is the end of the chain"
        )
    print(target)
    write_for_github(settings.variables.github_output, f"target={target}\n")


def create_and_show_challenger(settings: Settings, name: str, source: str) -> None:
    made = create_challenger(settings, name, source)
    print(f"Created challenger [{name}] of [{source}]:")
    for line in made:
        print(f"  {line}")


def select_environment(settings: Settings, name: str) -> None:
    known_environment(settings, open_registry(settings), name)
    (settings.root / SELECTED_ENVIRONMENT_FILE).write_text(name + "\n")


def create_challenger_command(argv: Sequence[str] | None = None) -> int:
    """local/create_challenger.py <challenger-name> <from-environment-name>, as the reference guides name it."""
    parser = CommandParser(
        description="Create a challenger environment: a copy of an environment's data, model and app versions "
        "and config."
    )
    parser.add_argument("name", help="the challenger's name, e.g. production_owen or pr-42")
    parser.add_argument("source", metavar="from", help="the environment to copy, e.g. production")

    def command(args: argparse.Namespace) -> int:
        create_and_show_challenger(load_settings(args.environment), args.name, args.source)
        return EXIT_OK

    return run(command, parser, argv)


def describe_change(event: EnvironmentEvent | None, environment: str, registry: ModelRegistry) -> str:
    if event is None:
        return f"[{environment}] already runs {registry.deployment(environment).describe()}; nothing moved."
    return f"[{environment}] now runs {event.after.describe()} (it ran {event.before.describe()})."


def promote_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("promote"),
        description="Move an environment's model version, app version and app config to the next environment of "
        "the chain, as one step: if any part fails, nothing moves. With --version N: approve a challenger that "
        "waits in the environment (its auto_promote is false), which then serves it.",
    )
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--from", dest="source", help="the environment to promote (default: the selected one)")
    choice.add_argument("--version", type=int, metavar="N", help="serve model version N, waiting for approval")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        registry = open_registry(settings)
        if args.version is not None:
            event = approve(settings, registry, settings.environment, args.version)
            print(
                f"Approved v{args.version} in [{settings.environment}]: "
                + describe_change(event, settings.environment, registry)
            )
            return EXIT_OK
        source = args.source or settings.environment
        target, event = promote(settings, registry, source)
        print(f"Promoted [{source}] to [{target}]: " + describe_change(event, target, registry))
        if any(shadow.name == source for shadow in registry.shadows()):  # how it answered the requests mirrored to it
            from ..comparison.shadow import shadow_report
            from .compare import describe_shadow

            print(describe_shadow(shadow_report(settings.for_environment(source), registry)))
        return EXIT_OK

    return run(command, parser, argv)


def rollback_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
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
    parser = CommandParser(
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
            event.trigger,
            change(event.before.model_version, event.after.model_version, model),
            change(event.before.app_version, event.after.app_version, lambda app: app or "-"),
            event.who,
        ]
        for event in events
    ]
    return tabulate(rows, headers=["when (UTC)", "action", "environment", "from", "trigger", "model", "app", "who"])
