"""`python -m {{ cookiecutter.app_name }} COMMAND ...` (or `{{ cookiecutter.app_name }} COMMAND ...`): the app's commands in one place.

status                              the selected environment, and what every environment runs and holds
env list | select NAME | challenger create NAME [--from ENV] | delete NAME | next
promote [--from ENV]                move model, app version and app config to the next environment, as one step
promote --version N                 approve a model waiting in an environment with auto_promote: false
rollback ENV [--to-version N]       put ENV back as it was before its last change, or serve model version N
history [ENV]                       who changed what each environment runs, and when
data create | upload [CSV]          create the environment's table; check a CSV and append all its rows, or none
retrain                             train a challenger, score it and the champion, promote it if better
monitor                             a drift and score report on the champion; a retrain if retrain_when says so
compare [--format markdown|json]    what the environment's model would change against the champion it would replace
pull-request report | comment       that comparison as a pull request's one comment (the challenger-test workflow)
shadow-report                       how a shadow environment answered the requests mirrored to it, beside production
predict-table [--query SQL] [--output TABLE]  score the whole table (or a query) with the champion, into a table
serve [--port N]                    the web app under uWSGI, sized by app config (what the image runs)
run-server [--port N]               the whole app on this machine: Redis, a worker and the web app
online-learning [CSV] [--url URL]   send corrected rows to a running app's /train
retrain-in-cloud [--url URL]        have a running app retrain, and follow the job
deploy [--from-component-config]    record this checkout as ENV's app, or make ENV run what the component config lists
deploy build | render | apply       build (--push) the image; print or kubectl-apply ENV's Kubernetes manifests
lock [--upgrade]                    lock pyproject.toml's requirements, with hashes, into requirements*.txt (uv)
deploy remove | test                delete a challenger's namespace; run pytest -m smoke against ENV
set-environment-configs             store each environment's config file as a ConfigMap in its namespace
set-service-account-key             store config/service_account_key.json as a Secret in ENV's namespace
component-config snapshot [--yes]   rewrite config/component_config.yml from the selected environment
registry connect                    reach the tracking server: MLFLOW_TRACKING_URI, or a port-forward into the cluster
bigquery-emulator [DATA_DIR]        the BigQuery API on this machine, for data_source: bigquery without a cloud

Every command takes --environment NAME and --help.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# Each command's module is imported only when it runs, so `--help` and the data commands start quickly.
COMMANDS = {
    "status": ("environments", "status_command"),
    "env": ("environments", "env_command"),
    "promote": ("environments", "promote_command"),
    "rollback": ("environments", "rollback_command"),
    "history": ("environments", "history_command"),
    "data": ("data", "data_command"),
    "retrain": ("retrain", "retrain_command"),
    "monitor": ("monitor", "monitor_command"),
    "compare": ("compare", "compare_command"),
    "pull-request": ("compare", "pull_request_command"),
    "shadow-report": ("compare", "shadow_report_command"),
    "predict-table": ("predict_table", "predict_table_command"),
    "serve": ("serve", "serve_command"),
    "run-server": ("serve", "run_server_command"),
    "online-learning": ("remote", "online_learning_command"),
    "retrain-in-cloud": ("remote", "retrain_in_cloud_command"),
    "deploy": ("deploy", "deploy_command"),
    "lock": ("deploy", "lock_command"),
    "set-environment-configs": ("deploy", "set_environment_configs_command"),
    "set-service-account-key": ("deploy", "set_service_account_key_command"),
    "component-config": ("component_config", "component_config_command"),
    "registry": ("registry_connect", "registry_command"),
    "bigquery-emulator": ("serve", "bigquery_emulator_command"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        asked = argv[:1] in (["-h"], ["--help"])
        print(__doc__.strip(), file=sys.stdout if asked else sys.stderr)
        if argv and not asked:
            print(f"\nerror: unknown command {argv[0]!r}", file=sys.stderr)
        return 0 if asked else 2
    module, function = COMMANDS[argv[0]]
    command = getattr(importlib.import_module(f"{__package__}.cli.{module}"), function)
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
