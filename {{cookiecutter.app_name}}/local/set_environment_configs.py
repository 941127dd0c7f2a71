"""Store each config/environment_<name>.yml where its deployed environment reads it: a ConfigMap in its namespace.

python local/set_environment_configs.py [--environment NAME] [--dry-run]
Environment config stays with its environment (promotion does not move it): run this again after changing one.
"""

import sys

from {{ cookiecutter.app_name }}.cli.deploy import set_environment_configs_command

if __name__ == "__main__":
    sys.exit(set_environment_configs_command())
