"""The commands a person runs from the app folder: local_retrain.py and the scripts in local/ call these.

Exit codes: 0 done (for a retrain: the challenger was promoted), 3 a retrain kept the champion,
2 something to fix first (missing table, bad data or config: the message says what), 1 a crash.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from .config import FixFirstError, load_settings
from .datastore import DataStoreError, infer_schema, open_datastore, read_csv
from .datastore.credentials import KEY_FILE, read_service_account_key
from .manifests import service_account_secret

if TYPE_CHECKING:  # the data commands start in a second without importing training and the registry
    from .pipeline import RetrainReport
    from .registry import ModelVersion

EXIT_OK, EXIT_FIX_FIRST, EXIT_KEPT_CHAMPION = 0, 2, 3  # and 1, Python's own, for a crash
DEFAULT_CSV = "data/dataset_1.csv"  # the first period of the demo data


def run(
    command: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> int:
    """Parse, run, and turn the errors a person can act on into a message and exit code 2."""
    parser.add_argument(
        "--environment", help="environment to work on (default: the selected one, else integration)", default=None
    )
    args = parser.parse_args(argv)
    try:
        return command(args)
    except FixFirstError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FIX_FIRST


def leaderboard(versions: Sequence[ModelVersion]) -> str:
    rows = [
        [
            f"v{v.version}",
            "" if v.score is None else f"{v.score:.4f}",
            v.score_type,
            "" if v.champion_score is None else f"{v.champion_score:.4f}",
            "passed" if v.passed else "failed",
            v.training_rows,
            v.environment,
            v.created.strftime("%Y/%m/%d %H:%M:%S"),
            v.created_by,
            ", ".join(v.serving),
        ]
        for v in versions
    ]
    headers = ["version", "score", "score_type", "champion score", "gate", "train rows", "trained in", "created",
               "created_by", "serving"]  # fmt: skip
    return tabulate(rows, headers=headers, tablefmt="grid")


def describe(report: RetrainReport) -> str:
    if report.promoted:
        outcome = f"Promoted v{report.challenger_version} to [{report.environment}]."
    else:
        serving = report.serving_version
        kept = (
            f"Kept v{serving} in [{report.environment}]"
            if serving is not None
            else f"No model serves [{report.environment}]"
        )
        status = "passed the gate but was not promoted" if report.passed else "is registered as failed"
        outcome = f"{kept}; v{report.challenger_version} {status}."
    seconds = ", ".join(f"{stage} {value:.1f}s" for stage, value in report.seconds.items())
    return (
        f"{outcome}\n"
        f"  why: {report.reason}\n"
        f"  scored on the same {report.test_rows} held-out rows; trained on {report.training_rows} rows; "
        f"{report.models_tried} models tried ({report.search_stopped_because})\n"
        f"  time: {seconds}"
    )


def retrain_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fetch the environment's data, train a challenger, score it and the champion on the same "
        "held-out rows, and promote the challenger only if it is better.",
        epilog="Exit codes: 0 promoted, 3 kept the champion, 2 something to fix first (the message says what).",
    )

    def command(args: argparse.Namespace) -> int:
        from .pipeline import retrain
        from .registry import open_registry

        settings = load_settings(args.environment)
        print(f"Retraining [{settings.app.model_name}] in environment [{settings.environment}]")
        last_stage = None

        def progress(stage: str, fraction: float) -> None:
            nonlocal last_stage
            if stage != last_stage:
                print(f"  {fraction:4.0%}  {stage}", flush=True)
                last_stage = stage

        report = retrain(settings=settings, progress=progress)
        print(describe(report))
        print(f"\nModel versions of [{settings.app.model_name}]:")
        print(leaderboard(open_registry(settings).versions()))
        return EXIT_OK if report.promoted else EXIT_KEPT_CHAMPION

    return run(command, parser, argv)


def create_database_command(argv: Sequence[str] | None = None, backend: str | None = None) -> int:
    """Create the environment's table on `backend` (default: the app's data_source)."""
    parser = argparse.ArgumentParser(description="Create the environment's table (if missing) with a CSV's columns.")
    parser.add_argument(
        "--schema-from",
        default=None,
        help=f"CSV whose columns and types the table takes (default: the schema in app config, else {DEFAULT_CSV})",
    )

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        store = open_datastore(settings, backend=backend)
        configured = settings.app.schema
        if args.schema_from or not configured:
            source = args.schema_from or DEFAULT_CSV
            schema = infer_schema(read_csv(source))
        else:
            source, schema = "schema in config/app_config.yml", configured
        if settings.app.target not in schema:
            raise DataStoreError(f"the {source} has no target column {settings.app.target!r}: {list(schema)}")
        if store.create(schema):
            print(f"Created {store} with columns:")
            print(tabulate(schema.items(), headers=["column", "type"]))
        else:
            print(f"Found {store} ({store.count()} rows); left it as it is.")
        return EXIT_OK

    return run(command, parser, argv)


def upload_data_command(argv: Sequence[str] | None = None, backend: str | None = None) -> int:
    """Append a CSV to the environment's table on `backend` (default: the app's data_source)."""
    parser = argparse.ArgumentParser(
        description="Check a CSV against the environment's table and append all its rows, or none."
    )
    parser.add_argument(
        "csv",
        type=Path,
        nargs="?",
        default=Path(DEFAULT_CSV),
        help=f"CSV with the table's columns (default {DEFAULT_CSV})",
    )

    def command(args: argparse.Namespace) -> int:
        store = open_datastore(load_settings(args.environment), backend=backend)
        rows = read_csv(args.csv)
        before = store.count()
        added = store.append(rows)
        print(f"Appended {added} rows from {args.csv} to {store}: {before} -> {store.count()} rows.")
        return EXIT_OK

    return run(command, parser, argv)


def set_service_account_key_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Store {KEY_FILE} as a Kubernetes Secret in the environment's namespace, where the deployed "
        "app reads it (applied with kubectl, or printed with --dry-run)."
    )
    parser.add_argument("--dry-run", action="store_true", help="print the Secret as YAML instead of applying it")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        manifest = service_account_secret(settings, read_service_account_key(settings.root / KEY_FILE))
        if args.dry_run:
            print(manifest, end="")
            return EXIT_OK
        print(kubectl_apply(manifest))
        return EXIT_OK

    return run(command, parser, argv)


def kubectl(*args: str, manifest: str | None = None) -> str:
    """Run kubectl (on the cluster its current context points at); what it printed, or a FixFirstError."""
    if shutil.which("kubectl") is None:
        raise FixFirstError("kubectl was not found: install it and connect it to the cluster, or use --dry-run")
    finished = subprocess.run(["kubectl", *args], input=manifest, text=True, capture_output=True)
    if finished.returncode != 0:
        raise FixFirstError(f"kubectl {' '.join(args[:2])} failed: {finished.stderr.strip()}")
    return finished.stdout.strip()


def kubectl_apply(manifest: str) -> str:
    """`kubectl apply` the manifest (one or more YAML documents); what kubectl printed."""
    return kubectl("apply", "-f", "-", manifest=manifest)


def run_tool(*args: str, cwd: Path | None = None) -> None:
    """Run a command line tool (docker, gcloud) with its output shown; a FixFirstError naming it if it fails."""
    if shutil.which(args[0]) is None:
        raise FixFirstError(f"{args[0]} was not found: install it, or run this where it is (CI)")
    if subprocess.run(args, cwd=cwd).returncode != 0:
        raise FixFirstError(f"`{' '.join(args)}` failed; its output is above")
