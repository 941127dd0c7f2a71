"""Create the environment's BigQuery dataset (<dataset_name>_<environment>) and table, if they are missing.

python local/bigquery/create_database.py [--environment NAME] [--schema-from CSV]
The columns and types come from `schema` in config/app_config.yml, else from data/dataset_1.csv.
"""

import sys

from {{ cookiecutter.app_name }}.cli.data import create_database_command

if __name__ == "__main__":
    sys.exit(create_database_command(made_for="bigquery"))
