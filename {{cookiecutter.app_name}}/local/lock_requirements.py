"""Lock pyproject.toml's requirements, with hashes, for every platform: requirements.txt (what the image installs),
requirements-dev.txt (the tests and linters too) and requirements-tracking-server.txt (the tracking server's image).

python local/lock_requirements.py [--upgrade]
"""

import sys

from {{ cookiecutter.app_name }}.cli.deploy import lock_command

if __name__ == "__main__":
    sys.exit(lock_command())
