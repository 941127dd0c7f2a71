"""Store config/service_account_key.json as a Kubernetes Secret in the environment's namespace.

python local/bigquery/set_service_account_key.py [--environment NAME] [--dry-run]
Paste the JSON key of the service account the app uses into config/service_account_key.json first (the file is
gitignored: never commit it). The deployed app mounts the Secret and reads BigQuery with it. --dry-run prints the
Secret as YAML instead of applying it with kubectl.
"""

import sys

from {{ cookiecutter.app_name }}.cli.deploy import set_service_account_key_command

if __name__ == "__main__":
    sys.exit(set_service_account_key_command())
