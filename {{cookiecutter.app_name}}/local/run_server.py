"""Run the whole app on this machine: the web app (uWSGI), a Celery worker, and Redis if REDIS_URL is unset.

    python local/run_server.py [--port 5001] [--environment NAME]
Ctrl-C stops all of them, and so does `kill` (SIGTERM) or closing the terminal (SIGHUP).
"""

import sys

from {{ cookiecutter.app_name }}.cli.serve import run_server_command

if __name__ == "__main__":
    sys.exit(run_server_command())
