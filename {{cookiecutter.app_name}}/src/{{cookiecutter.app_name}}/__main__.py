"""`python -m {{ cookiecutter.app_name }} COMMAND ...`: the app's commands in one place.

status                              the selected environment, and what every environment runs and holds
env list | select NAME | challenger create NAME [--from ENV] | delete NAME
promote [--from ENV]                move model, app version and app config to the next environment, as one step
rollback ENV [--to-version N]       put ENV back as it was before its last change, or serve model version N
history [ENV]                       who changed what each environment runs, and when
deploy [--from-component-config]    record this checkout as ENV's app, or make ENV run what the component config lists
deploy build | render | apply       build (--push) the image; print or kubectl-apply ENV's Kubernetes manifests
deploy remove | test                delete a challenger's namespace; run pytest -m smoke against ENV
component-config snapshot [--yes]   rewrite config/component_config.yml from the selected environment
registry connect                    reach the tracking server: MLFLOW_TRACKING_URI, or a port-forward into the cluster
retrain                             as local_retrain.py

Every command takes --environment NAME and --help.
"""

import sys

from .cli.component_config import component_config_command
from .cli.deploy import deploy_command
from .cli.environments import env_command, history_command, promote_command, rollback_command, status_command
from .cli.registry import registry_command
from .cli.retrain import retrain_command

COMMANDS = {
    "status": status_command,
    "env": env_command,
    "promote": promote_command,
    "rollback": rollback_command,
    "history": history_command,
    "deploy": deploy_command,
    "component-config": component_config_command,
    "registry": registry_command,
    "retrain": retrain_command,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
