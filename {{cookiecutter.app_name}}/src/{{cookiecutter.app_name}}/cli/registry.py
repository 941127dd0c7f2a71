"""`python -m {{ cookiecutter.app_name }} registry connect`: reach the tracking server every environment shares.

MLFLOW_TRACKING_URI, when set, is used as it is. Otherwise a `kubectl port-forward` to the tracking server in the
cluster (k8s/mlflow.yml) brings it to this machine and keeps running after the command: for the rest of a CI job,
or until you stop it. The settings go to $GITHUB_ENV for the job's next steps, or are printed as `export` lines:
    eval "$(python -m {{ cookiecutter.app_name }} registry connect)"    # and later: kill $MLFLOW_PORT_FORWARD_PID
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence

from ..manifests import CLUSTER_TRACKING_URI
from .command import EXIT_OK, CommandParser, prog, run
from .tools import port_forward

IN_CLUSTER_URL = "http://{service}.{namespace}.svc.cluster.local:{port}"


def registry_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("registry"),
        description="Reach the tracking server every environment shares: MLFLOW_TRACKING_URI when set, else a "
        "kubectl port-forward to the one in the cluster, which keeps running. The settings go to $GITHUB_ENV in a "
        'GitHub job, else they are printed as export lines: eval "$(%(prog)s connect)"',
    )
    actions = parser.actions(required=True, metavar="connect")
    connect = actions.add_parser("connect", help="use MLFLOW_TRACKING_URI, else port-forward to the cluster's server")
    connect.add_argument("--namespace", default="mlflow", help="the tracking server's namespace (default mlflow)")
    connect.add_argument("--service", default="mlflow", help="its Service (default mlflow)")
    connect.add_argument("--port", type=int, default=5000, help="the Service's port (default 5000)")

    def command(args: argparse.Namespace) -> int:
        found = {CLUSTER_TRACKING_URI: os.environ.get(CLUSTER_TRACKING_URI, "")}
        if os.environ.get("MLFLOW_TRACKING_URI"):
            found["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_TRACKING_URI"]
        else:
            found.update(forward_to_cluster(args.namespace, args.service, args.port))
            # The pods reach the server in the cluster, not through this machine's forward.
            found[CLUSTER_TRACKING_URI] = found[CLUSTER_TRACKING_URI] or IN_CLUSTER_URL.format(
                service=args.service, namespace=args.namespace, port=args.port
            )
        export({name: value for name, value in found.items() if value})
        return EXIT_OK

    return run(command, parser, argv)


def forward_to_cluster(namespace: str, service: str, port: int) -> dict[str, str]:
    log = tempfile.NamedTemporaryFile(prefix="mlflow-port-forward-", suffix=".log", delete=False)  # noqa: SIM115
    # A session of its own: the forward outlives this command, as the job's later steps need it.
    forward, url = port_forward(namespace, service, port, log, start_new_session=True)
    print(f"Forwarding {url} to service/{service} in {namespace}: kubectl, pid {forward.pid}, log {log.name}",
          file=sys.stderr)  # fmt: skip
    return {"MLFLOW_TRACKING_URI": url, "MLFLOW_PORT_FORWARD_PID": str(forward.pid)}


def export(variables: dict[str, str]) -> None:
    """For a GitHub job's next steps ($GITHUB_ENV), else as `export` lines for a shell to eval."""
    if not os.environ.get("GITHUB_ENV"):
        for name, value in variables.items():
            print(f"export {name}={shlex.quote(value)}")
        return
    with open(os.environ["GITHUB_ENV"], "a", encoding="utf-8") as job_environment:
        for name, value in variables.items():
            job_environment.write(f"{name}={value}\n")
    print("For the next steps: " + ", ".join(f"{name}={value}" for name, value in variables.items()))
