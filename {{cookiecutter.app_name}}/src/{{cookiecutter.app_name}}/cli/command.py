"""How every command parses its arguments, reports what to fix, and exits.

Exit codes: 0 done (for a retrain: the challenger was promoted), 3 a retrain kept the champion,
2 something to fix first (missing table, bad data or config: the message says what), 1 a crash.
`deploy test` exits with pytest's own code once pytest runs: 1 tests failed, 5 no test had the markers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from functools import partial

from ..config import APP_NAME, FixFirstError

EXIT_OK, EXIT_FIX_FIRST, EXIT_KEPT_CHAMPION = 0, 2, 3  # and 1, Python's own, for a crash


class CommandParser(argparse.ArgumentParser):
    """An argument parser for the app's commands and their actions: each takes --environment, and only whole option
    names (a misspelt `--replac` in a workflow must fail, not pass for `--replace`)."""

    def __init__(self, *args, action: bool = False, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--environment",
            # An action leaves the command's value alone unless it is given after the action's name.
            default=argparse.SUPPRESS if action else None,
            help="environment to work on (default: the selected one, else integration)",
        )

    def actions(self, dest: str = "action", **kwargs):
        """The command's actions (`env list`, `deploy apply`, ...): parsers like this one."""
        return self.add_subparsers(dest=dest, parser_class=partial(CommandParser, action=True), **kwargs)


def prog(command: str) -> str:
    return f"python -m {APP_NAME} {command}"


def run(command: Callable[[argparse.Namespace], int], parser: CommandParser, argv: Sequence[str] | None) -> int:
    """Parse, run, and turn the errors a person can act on into a message and exit code 2."""
    args = parser.parse_args(argv)
    try:
        return command(args)
    except FixFirstError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FIX_FIRST


def write_for_github(path: str | None, text: str) -> None:
    """Append `text` to the file a GitHub job reads back (its GITHUB_OUTPUT, GITHUB_ENV or GITHUB_STEP_SUMMARY), if
    this runs in one: `path` is None elsewhere."""
    if path:
        with open(path, "a", encoding="utf-8") as github_file:
            github_file.write(text)
