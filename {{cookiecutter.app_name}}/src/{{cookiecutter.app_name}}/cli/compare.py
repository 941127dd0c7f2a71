"""`python -m {{ cookiecutter.app_name }} compare`: the challenger report; `pull-request report | comment`: the same
report as a pull request's one comment, made by the job that tests it and posted by a job that may only comment."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

from ..config import FixFirstError, load_settings
from .command import EXIT_OK, CommandParser, prog, run, write_for_github

DESCRIPTION = (
    "Compare the environment's model with the champion it would replace, on the same held-out rows neither trained "
    "on: for a challenger, the newest version it serves or trained against the champion of the environment it was "
    "copied from; for an environment of the chain, its newest version against its champion. Both scores, each "
    "class's (or each range of the target's), the rows they disagree on, the mistakes that changed, what a "
    "prediction costs, drift of the training rows, and whether the gate would promote it. Exits 0 whatever the gate "
    "would decide."
)
# What `pull-request report` writes, and `pull-request comment` reads: the run's artifact.
REPORT_JSON, REPORT_MARKDOWN, COMMENT, PULL_REQUEST = "report.json", "report.md", "comment.md", "pull_request.json"
COMMIT = re.compile(r"[0-9a-f]{40}")


def compare_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(prog=prog("compare"), description=DESCRIPTION)
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown", help="default: markdown")

    def command(args: argparse.Namespace) -> int:
        from ..comparison import compare, markdown
        from ..registry import open_registry

        settings = load_settings(args.environment)
        report = compare(settings, open_registry(settings))
        print(json.dumps(report.to_dict(), indent=2) if args.format == "json" else markdown(report), end="\n")
        return EXIT_OK

    return run(command, parser, argv)


def pull_request_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(prog=prog("pull-request"), description="The challenger report as a pull request's comment.")
    actions = parser.actions(required=True)
    report = actions.add_parser(
        "report",
        help="compare (see `compare --help`) and write the run's artifact: report.json, report.md, and comment.md, "
        "the comment without example rows; comment.md also goes to the job's summary",
    )
    report.add_argument("--number", type=int, required=True, help="the pull request's number")
    report.add_argument("--head-sha", required=True, help="the commit the run tests")
    report.add_argument("--output", type=Path, default=Path("challenger-report"), help="default: challenger-report")
    comment = actions.add_parser(
        "comment",
        help="post the artifact's comment.md on its pull request, or edit the comment an earlier run posted; only if "
        "the pull request's head is still the commit the run tested (GITHUB_TOKEN, GITHUB_REPOSITORY)",
    )
    comment.add_argument("artifact", type=Path, help="the folder `pull-request report` wrote")
    comment.add_argument("--head-sha", required=True, help="the commit the run tested (workflow_run.head_sha)")

    def command(args: argparse.Namespace) -> int:
        settings = load_settings(args.environment)
        if args.action == "report":
            write_report(settings, args.output, args.number, args.head_sha)
        else:
            print(post_comment(settings, args.artifact, args.head_sha))
        return EXIT_OK

    return run(command, parser, argv)


def write_report(settings, folder: Path, number: int, head_sha: str) -> None:
    from ..comparison import COMMENT_LIMIT, compare, markdown
    from ..registry import open_registry

    report = compare(settings, open_registry(settings))
    comment = markdown(report, public=True, limit=COMMENT_LIMIT)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT_JSON).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (folder / REPORT_MARKDOWN).write_text(markdown(report))
    (folder / COMMENT).write_text(comment)
    (folder / PULL_REQUEST).write_text(json.dumps({"number": number, "head_sha": head_sha}) + "\n")
    write_for_github(settings.variables.github_step_summary, comment)
    print(f"Wrote {folder}/: {REPORT_JSON}, {REPORT_MARKDOWN}, {COMMENT}, {PULL_REQUEST}")


def post_comment(settings, folder: Path, head_sha: str) -> str:
    """Post or edit the pull request's comment; what was done, as a line. The artifact was written by the pull
    request's own code, so nothing in it is trusted but as text: its number must be a pull request whose head is the
    commit the run tested, and its comment is cut to what GitHub keeps."""
    from ..comparison import COMMENT_LIMIT, MARKER, cut
    from ..deploy.github import PullRequestComments

    variables = settings.variables
    if not variables.github_token or not variables.github_repository:
        raise FixFirstError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set: the token comments, in that repository")
    try:
        named = json.loads((folder / PULL_REQUEST).read_text())
        number, tested = named["number"], named["head_sha"]
        body = (folder / COMMENT).read_text()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FixFirstError(f"{folder} is not a challenger report written by `pull-request report`: {error}") from error
    if not isinstance(number, int) or number < 1 or tested != head_sha or not COMMIT.fullmatch(head_sha):
        raise FixFirstError(
            f"{folder / PULL_REQUEST} names pull request {number!r} at {tested!r}, but the run tested {head_sha!r}: "
            "not commenting"
        )
    github = PullRequestComments(
        variables.github_api_url or "https://api.github.com", variables.github_repository, variables.github_token
    )
    head = github.head_sha(number)
    if head != head_sha:
        return f"Not commented: pull request #{number} is at {head} now, not {head_sha}; its newer run will comment"
    body = body if body.startswith(MARKER) else f"{MARKER}\n{body}"
    done, comment_id = github.post_or_edit(number, MARKER, cut(body, COMMENT_LIMIT))
    return f"{done.capitalize()} the challenger report on pull request #{number} (comment {comment_id})"


def shadow_report_command(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(
        prog=prog("shadow-report"),
        description="How the environment, a shadow (shadow_of in its environment config), answered the requests "
        "mirrored to it, beside what the environment it shadows answered: requests seen, agreement, what each "
        "predicted, how long each took, and both scores on the rows whose true value has been loaded since. It reads "
        "that environment's prediction log; with REDIS_URL (its Redis), the requests logged since the worker last "
        "took them in are taken in first.",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="default: text")

    def command(args: argparse.Namespace) -> int:
        from ..comparison.shadow import shadow_report
        from ..registry import open_registry

        settings = load_settings(args.environment)
        registry = open_registry(settings)
        if settings.redis_url:
            take_in_prediction_log(settings, registry)
        report = shadow_report(settings, registry)
        print(json.dumps(report.to_dict(), indent=2) if args.format == "json" else describe_shadow(report))
        return EXIT_OK

    return run(command, parser, argv)


def take_in_prediction_log(settings, registry) -> None:
    """Move the shadowed environment's logged predictions from its Redis into its journal, as the monitor does."""
    from ..datastore import open_journal
    from ..monitoring.prediction_log import drain
    from ..worker.queue import REDIS_RESTART_SECONDS, redis_client

    for shadow in registry.shadows():
        if shadow.name == settings.environment:
            journal = open_journal(settings, "predictions", shadow.shadow_of)
            drain(redis_client(settings.redis_url, REDIS_RESTART_SECONDS), journal, shadow.shadow_of)


def describe_shadow(report) -> str:
    from tabulate import tabulate

    shadowed, shadow = f"[{report.shadow_of}]", f"[{report.environment}]"
    lines = [f"Shadow {shadow} of {shadowed}: {report.share:.0%} of its /predict requests mirrored"]
    if report.rows:
        versions = {side: ", ".join(f"v{version}" for version in found) for side, found in report.versions.items()}
        latency = report.latency_ms
        lines += [
            f"{report.requests:,} requests ({report.rows:,} rows) answered by both: {shadowed} with "
            f"{versions['production']}, {shadow} with {versions['shadow']}",
            f"They agree on {report.agreed_rows:,} rows ({report.agreement:.1%})",
            "",
            tabulate([[row["value"], row["production"], row["shadow"]] for row in report.distribution],
                     headers=["predicted", shadowed, shadow]),
            "",
            f"Latency: {shadowed} {latency['production']['p50']:.2f} ms per request (p50), "
            f"{latency['production']['p99']:.2f} (p99); {shadow} {latency['shadow']['p50']:.3f} ms per row (p50) "
            "in batches",
        ]  # fmt: skip
    if report.scores:
        lines.append(
            f"On the {report.labelled_rows:,} rows whose true value has been loaded since: {report.score_type} "
            f"{shadowed} {report.scores['production']:.4f}, {shadow} {report.scores['shadow']:.4f}"
        )
    return "\n".join([*lines, *report.notes])
