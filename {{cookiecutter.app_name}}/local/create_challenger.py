"""Create a challenger environment: a copy of an environment's data, model alias and config.

python local/create_challenger.py <challenger-name> <from-environment-name>
e.g. `python local/create_challenger.py production_owen production` to debug production without touching it.
Delete it afterwards with `python -m {{ cookiecutter.app_name }} env delete <challenger-name>`.
"""

import sys

from {{ cookiecutter.app_name }}.cli.environments import create_challenger_command

if __name__ == "__main__":
    sys.exit(create_challenger_command())
