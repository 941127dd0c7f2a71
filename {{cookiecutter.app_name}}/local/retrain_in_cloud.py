"""Ask a running app to retrain on its data as it is, follow the job, and print the report.

    python local/retrain_in_cloud.py [--url http://127.0.0.1:5001] [--api-key KEY] [--job JOB_ID]
With --job, follows a retrain already queued (say, by local/online_learning.py) instead of starting one.
Exit codes as local_retrain.py: 0 promoted, 3 kept the champion, 2 the app refused or the retrain failed.
"""

import argparse
import sys

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.laptop.client import AppClient, AppError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5001")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--job", default=None, help="follow this job instead of starting a retrain")
    args = parser.parse_args()
    client = AppClient(args.url, args.api_key or load_settings().api_key)
    last_stage = None

    def progress(job: dict) -> None:
        nonlocal last_stage
        if job["stage"] != last_stage:
            print(f"  {job['progress']:4.0%}  {job['stage'] or job['state']}", flush=True)
            last_stage = job["stage"]

    try:
        job_id = args.job or client.retrain()["job_id"]
        print(f"Following retrain job {job_id}")
        job = client.follow(job_id, progress)
    except AppError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if job["state"] == "failed":
        print(f"Retrain failed: {job['message']}", file=sys.stderr)
        return 2
    report = job["report"]
    verdict = "Promoted" if report["promoted"] else "Kept the champion; not promoted:"
    print(f"{verdict} v{report['challenger_version']} in [{report['environment']}]: {report['reason']}")
    return 0 if report["promoted"] else 3


if __name__ == "__main__":
    sys.exit(main())
