"""GitHub's REST API for a pull request's comments, stood in for by a server that answers as GitHub documents it
(docs.github.com/rest: pulls, issues/comments) and records every request: GitHub itself cannot run here."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = {"login": "github-actions[bot]", "type": "Bot"}  # who a workflow's token comments as
BODY_LIMIT = 65_536  # GitHub refuses a longer comment (422)


@dataclass
class Repository:
    name: str  # owner/name
    token: str  # the only one it takes
    heads: dict[int, str] = field(default_factory=dict)  # pull request number -> its head commit
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # pull request number -> its comments
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path and query, JSON body
    next_id: int = 1000

    def comment(self, number: int, body: str, user: dict[str, str] | None = None) -> dict[str, Any]:
        """Add a comment to pull request `number`, as `user` (a person, unless said otherwise)."""
        self.next_id += 1
        made = {"id": self.next_id, "body": body, "user": user or {"login": "octocat", "type": "User"}}
        self.comments.setdefault(number, []).append(made)
        return made

    def answer(self, method: str, target: str, token: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        """GitHub's status, JSON answer and headers for this request."""
        self.requests.append((method, target, body))
        if token != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        parts = urlsplit(target)
        path, query = parts.path.removeprefix(f"/repos/{self.name}"), parse_qs(parts.query)
        if match := re.fullmatch(r"/pulls/(\d+)", path):
            number = int(match[1])
            if number not in self.heads:
                return 404, {"message": "Not Found"}, {}
            return 200, {"number": number, "head": {"sha": self.heads[number]}}, {}
        if (match := re.fullmatch(r"/issues/(\d+)/comments", path)) and method == "GET":
            return self.page(parts.path, self.comments.get(int(match[1]), []), query)
        if (match := re.fullmatch(r"/issues/(\d+)/comments", path)) and method == "POST":
            if int(match[1]) not in self.heads:
                return 404, {"message": "Not Found"}, {}
            if problem := self.invalid(body):
                return 422, problem, {}
            return 201, self.comment(int(match[1]), body["body"], BOT), {}
        if (match := re.fullmatch(r"/issues/comments/(\d+)", path)) and method == "PATCH":
            found = [c for comments in self.comments.values() for c in comments if c["id"] == int(match[1])]
            if not found:
                return 404, {"message": "Not Found"}, {}
            if problem := self.invalid(body):
                return 422, problem, {}
            found[0]["body"] = body["body"]
            return 200, found[0], {}
        return 404, {"message": "Not Found"}, {}

    def page(self, path: str, items: list, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        """One page of `items`, with a Link header to the next as GitHub gives it."""
        size = min(int(query.get("per_page", ["30"])[0]), 100)
        number = int(query.get("page", ["1"])[0])
        headers = {}
        if number * size < len(items):
            headers["Link"] = f'<{path}?per_page={size}&page={number + 1}>; rel="next"'  # the server adds its address
        return 200, items[(number - 1) * size : number * size], headers

    @staticmethod
    def invalid(body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return {"message": "Invalid request.", "errors": ["body is missing"]}
        if len(body["body"]) > BODY_LIMIT:
            return {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {BODY_LIMIT} characters)",
                    }
                ],
            }
        return None

    def posted(self) -> list[tuple[str, str, Any]]:
        """The requests that changed something."""
        return [request for request in self.requests if request[0] != "GET"]


@contextmanager
def github_api(repository: Repository) -> Iterator[str]:
    """Serve `repository` on a port of this machine; its base URL (as GITHUB_API_URL)."""

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer, headers = repository.answer(method, self.path, self.headers.get("Authorization", ""), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value.replace("<", f"<{base}", 1))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802  (http.server's names)
            self.handle_one("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.handle_one("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self.handle_one("PATCH")

        def log_message(self, *args) -> None:  # the test reads the recorded requests instead
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
