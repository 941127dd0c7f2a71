"""Run the whole app on this machine: the web app (uWSGI), a Celery worker, and Redis if REDIS_URL is unset.

    python local/run_server.py [--port 5001] [--environment NAME]
Ctrl-C stops all of them, and so does `kill` (SIGTERM) or closing the terminal (SIGHUP).
"""

import argparse
import signal
import sys
import time

from {{ cookiecutter.app_name }}.config import load_settings
from {{ cookiecutter.app_name }}.laptop.stack import local_stack


def stop_like_ctrl_c(signal_number: int, frame) -> None:
    raise KeyboardInterrupt  # unwinds through local_stack, which stops every process it started


def main() -> int:
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, stop_like_ctrl_c)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--environment", default=None)
    args = parser.parse_args()
    settings = load_settings(args.environment)
    if not settings.redis_url:
        print("REDIS_URL is not set: starting an embedded Redis.", flush=True)
    try:
        with local_stack(settings, args.port) as stack:
            print(
                f"Paste the following into your browser to access the app:\n\n"
                f"[{stack.url}?api_key={settings.api_key}]\n",
                flush=True,
            )
            while not stack.stopped():
                time.sleep(0.5)
            print(f"{', '.join(stack.stopped())} stopped; stopping the rest.", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
