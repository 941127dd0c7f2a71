"""Send corrected rows to a running app's /train: they are appended and a retrain is queued.

    python local/online_learning.py [CSV] [--url http://127.0.0.1:5001] [--api-key KEY]
CSV defaults to data/dataset_2.csv; the key defaults to API_KEY or the app config's api_key.
"""

import argparse
import sys
from pathlib import Path

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.laptop.client import AppClient, AppError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="?", type=Path, default=Path("data/dataset_2.csv"))
    parser.add_argument("--url", default="http://127.0.0.1:5001")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    client = AppClient(args.url, args.api_key or load_settings().api_key)
    try:
        queued = client.train(args.csv)
    except AppError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Added {queued['rows_added']} rows from {args.csv}; retrain job {queued['job_id']} is queued.")
    if queued["ignored_columns"]:
        print(f"Ignored columns the table does not have: {queued['ignored_columns']}")
    print(f"Follow it with: python local/retrain_in_cloud.py --job {queued['job_id']} --url {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
