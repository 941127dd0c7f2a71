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
