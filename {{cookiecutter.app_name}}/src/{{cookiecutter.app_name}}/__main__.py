"""`python -m {{ cookiecutter.app_name }} COMMAND ...`: the app's commands in one place.

env list | select NAME | challenger create NAME [--from ENV] | delete NAME
retrain                      (as local_retrain.py)
"""

import sys

from .cli import env_command, retrain_command

COMMANDS = {"env": env_command, "retrain": retrain_command}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
