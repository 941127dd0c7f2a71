"""Send corrected rows to a running app's /train: they are appended and a retrain is queued.

    python local/online_learning.py [CSV] [--url http://127.0.0.1:5001] [--api-key KEY]
CSV defaults to data/dataset_2.csv; the key defaults to API_KEY or the app config's api_key.
"""

import sys

from {{ cookiecutter.app_name }}.cli.remote import online_learning_command

if __name__ == "__main__":
    sys.exit(online_learning_command())
