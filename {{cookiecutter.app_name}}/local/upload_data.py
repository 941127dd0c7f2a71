"""Append a CSV's rows to the environment's table, after checking every row against the table.

python local/upload_data.py CSV [--environment NAME]
"""

import sys

from {{ cookiecutter.app_name }}.cli.data import upload_data_command

if __name__ == "__main__":
    sys.exit(upload_data_command())
