"""A pull request's one comment, through GitHub's REST API: found again by a hidden marker, edited in place.

It runs in a `workflow_run` job, with a token that may only read the run's artifacts and write to pull requests: the
pull request's number comes from its run's artifact, so it is believed only if that pull request's head is the commit
the run tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from ..config import FixFirstError

API_VERSION = "2022-11-28"
COMMENTER = "github-actions[bot]"  # who comments with a workflow's token: only its comments are edited
TIMEOUT = 30


class GitHubError(FixFirstError):
    """GitHub refused a request or answered with something else than its API documents."""


@dataclass(frozen=True)
class PullRequestComments:
    api_url: str  # https://api.github.com, or a GitHub Enterprise Server's
    repository: str  # owner/name
    token: str

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
        }
        full = url if url.startswith("http") else f"{self.api_url.rstrip('/')}/repos/{self.repository}/{url}"
        try:
            answer = requests.request(method, full, headers=headers, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise GitHubError(f"GitHub's API at {self.api_url} could not be reached: {error}") from error
        if not answer.ok:
            raise GitHubError(f"GitHub answered {method} {full} with {answer.status_code}: {answer.text[:500]}")
        return answer

    def head_sha(self, number: int) -> str:
        """The commit the pull request's branch is at now."""
        return self.request("GET", f"pulls/{number}").json()["head"]["sha"]

    def comments(self, number: int) -> Iterator[dict[str, Any]]:
        """Every comment on the pull request's conversation, oldest first, a page at a time."""
        url: str | None = f"issues/{number}/comments?per_page=100"
        while url:
            answer = self.request("GET", url)
            yield from answer.json()
            url = answer.links.get("next", {}).get("url")

    def post_or_edit(self, number: int, marker: str, body: str) -> tuple[str, int]:
        """Edit the workflow's comment that holds `marker`, or post one: ("edited" or "posted", the comment's id)."""
        for comment in self.comments(number):
            if marker in (comment.get("body") or "") and comment.get("user", {}).get("login") == COMMENTER:
                self.request("PATCH", f"issues/comments/{comment['id']}", json={"body": body})
                return "edited", comment["id"]
        return "posted", self.request("POST", f"issues/{number}/comments", json={"body": body}).json()["id"]
