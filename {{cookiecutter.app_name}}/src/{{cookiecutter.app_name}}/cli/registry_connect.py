"""`python -m {{ cookiecutter.app_name }} registry connect`: reach the tracking server every environment shares.

MLFLOW_TRACKING_URI, when set, is used as it is. Otherwise a `kubectl port-forward` to the tracking server in the
cluster (k8s/mlflow.yml) brings it to this machine and keeps running after the command: for the rest of a CI job,
or until you stop it; run again after it stopped, it starts a new one. The settings go to $GITHUB_ENV for the
job's next steps, or are printed as `export` lines for a shell:
    connect=$(python -m {{ cookiecutter.app_name }} registry connect) && eval "$connect"
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import requests

from ..config import load_settings, read_variables
from ..deploy.manifests import CLUSTER_TRACKING_URI
from ..deploy.tools import answers, port_forward
from .command import EXIT_OK, CommandParser, prog, run, write_for_github

IN_CLUSTER_URL = "http://{service}.{namespace}.svc.cluster.local:{port}"
FORWARD_PID = "MLFLOW_PORT_FORWARD_PID"  # set by an earlier connect: its URL is ours to replace if it stopped


def registry_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("registry"),
        description="Reach the tracking server every environment shares: MLFLOW_TRACKING_URI when set, else a "
        "kubectl port-forward to the one in the cluster, which keeps running. The settings go to $GITHUB_ENV in a "
        'GitHub job, else they are printed as export lines: connect=$(%(prog)s connect) && eval "$connect"',
    )
    actions = parser.actions(required=True, metavar="connect")
    connect = actions.add_parser("connect", help="use MLFLOW_TRACKING_URI, else port-forward to the cluster's server")
    connect.add_argument("--namespace", default="mlflow", help="the tracking server's namespace (default mlflow)")
    connect.add_argument("--service", default="mlflow", help="its Service (default mlflow)")
    connect.add_argument("--port", type=int, default=5000, help="the Service's port (default 5000)")

    def command(args: argparse.Namespace) -> int:
        variables = read_variables()
        given = variables.mlflow_tracking_uri or ""
        found = {CLUSTER_TRACKING_URI: variables.cluster_mlflow_tracking_uri or ""}
        if given and (not variables.mlflow_port_forward_pid or answering(given)):
            found["MLFLOW_TRACKING_URI"] = given  # a server of the team's own, or an earlier forward still running
        else:
            if given:
                print(f"The earlier port-forward ({given}) has stopped; starting a new one.", file=sys.stderr)
            log = load_settings(args.environment).state_dir / "mlflow-port-forward.log"
            found.update(forward_to_cluster(args.namespace, args.service, args.port, log))
            # The pods reach the server in the cluster, not through this machine's forward.
            found[CLUSTER_TRACKING_URI] = found[CLUSTER_TRACKING_URI] or IN_CLUSTER_URL.format(
                service=args.service, namespace=args.namespace, port=args.port
            )
        export({name: value for name, value in found.items() if value}, variables.github_env)
        return EXIT_OK

    return run(command, parser, argv)


def answering(url: str) -> bool:
    try:
        answers(url)
        return True
    except requests.RequestException:
        return False


def forward_to_cluster(namespace: str, service: str, port: int, log_path: Path) -> dict[str, str]:
    # Detached: the forward outlives this command, as the job's later steps need it.
    forward, url = port_forward(namespace, service, port, log_path, detached=True)
    print(
        f"Forwarding {url} to service/{service} in {namespace}: kubectl, pid {forward.pid}, log {log_path}",
        file=sys.stderr,
    )
    return {"MLFLOW_TRACKING_URI": url, FORWARD_PID: str(forward.pid)}


def export(variables: dict[str, str], github_env: str | None) -> None:
    """For a GitHub job's next steps (its GITHUB_ENV file), else as `export` lines for a shell to eval."""
    if github_env:
        write_for_github(github_env, "".join(f"{name}={value}\n" for name, value in variables.items()))
        print("For the next steps: " + ", ".join(f"{name}={value}" for name, value in variables.items()))
        return
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")
