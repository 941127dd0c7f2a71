"""Retrain the model on the selected environment's data and promote it if it beats the champion.

python local_retrain.py [--environment NAME]
"""

import sys

from {{ cookiecutter.app_name }}.cli.retrain import retrain_command

if __name__ == "__main__":
    sys.exit(retrain_command())
