"""`python -m {{ cookiecutter.app_name }} component-config snapshot`, which the git hook runs before each commit.

Exit codes: 0 the file matches (or was rewritten outside a commit), 1 the file is out of date and was not rewritten
(or was, during a commit, and must be added to it), 2 something to fix first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..config import Settings, load_settings
from ..environments import component_file as components
from ..registry import open_registry
from .command import EXIT_OK, CommandParser, prog, run

EXIT_OUT_OF_DATE = 1  # the component config differs from the environment and was not rewritten


def component_config_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("component-config"),
        description=f"Keep {components.COMPONENT_CONFIG} equal to what the selected environment runs.",
    )
    actions = parser.actions(required=True, metavar="snapshot")
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
    if settings.variables.git_index_file:  # run by git as a hook: the new file is not in this commit yet
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
