"""Append a CSV (default data/dataset_1.csv) to the environment's BigQuery table with one load job.

python local/bigquery/upload_data_to_bigquery.py [CSV] [--environment NAME]
Every row is checked against the table first; a file that does not fit loads nothing.
"""

import sys

from {{ cookiecutter.app_name }}.cli.data import upload_data_command

if __name__ == "__main__":
    sys.exit(upload_data_command(made_for="bigquery"))
