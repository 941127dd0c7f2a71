"""Ask a running app to retrain on its data as it is, follow the job, and print the report.

    python local/retrain_in_cloud.py [--url http://127.0.0.1:5001] [--api-key KEY] [--job JOB_ID]
With --job, follows a retrain already queued (say, by local/online_learning.py) instead of starting one.
Exit codes as local_retrain.py: 0 promoted, 3 kept the champion, 2 the app refused or the retrain failed.
"""

import sys

from {{ cookiecutter.app_name }}.cli.remote import retrain_in_cloud_command

if __name__ == "__main__":
    sys.exit(retrain_in_cloud_command())
