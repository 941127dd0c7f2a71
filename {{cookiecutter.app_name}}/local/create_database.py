"""Create the environment's table, with the columns and types of a CSV (default data/dataset_1.csv).

python local/create_database.py [--environment NAME] [--schema-from CSV]
"""

import sys

from {{ cookiecutter.app_name }}.cli.data import create_database_command

if __name__ == "__main__":
    sys.exit(create_database_command())
