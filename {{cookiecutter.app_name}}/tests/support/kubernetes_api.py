"""A Kubernetes API server that stands in for a cluster's, which cannot run here: it holds the objects a test puts in
it, answers reads and deletes of them as the API server does, records every request, and is what KUBECONFIG points
at. Enough for the app's own calls (engines/dask_cluster.py removing a leftover Dask cluster), not the operator's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml


@dataclass
class KubernetesAPI:
    url: str
    objects: dict[str, dict] = field(default_factory=dict)  # path -> object
    requests: list[tuple[str, str, dict | None]] = field(default_factory=list)  # method, path, body
    reads_while_deleting: int = 1  # a deleted object is still there for this many reads (while its pods go)
    deleting: dict[str, int] = field(default_factory=dict)

    def kubeconfig(self, folder: Path) -> Path:
        path = folder / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cluster", "cluster": {"server": self.url}}],
            "users": [{"name": "worker", "user": {"token": "a-service-account-token"}}],
            "contexts": [{"name": "here", "context": {"cluster": "cluster", "user": "worker"}}],
            "current-context": "here",
        }))  # fmt: skip
        return path

    def handle(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        self.requests.append((method, path, body))
        if path == "/version":  # which the client asks first
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"}
        if path not in self.objects:
            return 404, status(404, f"{path.rsplit('/', 1)[-1]} not found")
        if method == "DELETE":
            self.deleting[path] = self.reads_while_deleting
            return 200, status(200, "deleting")
        if self.deleting.get(path) == 0:
            del self.objects[path], self.deleting[path]
            return 404, status(404, f"{path.rsplit('/', 1)[-1]} not found")
        if path in self.deleting:
            self.deleting[path] -= 1
        return 200, self.objects[path]


def status(code: int, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "code": code, "message": message,
            "status": "Success" if code < 400 else "Failure"}  # fmt: skip


@contextmanager
def kubernetes_api() -> Iterator[KubernetesAPI]:
    api: KubernetesAPI

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            code, answer = api.handle(self.command, self.path.split("?")[0].rstrip("/"), body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_DELETE = answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api = KubernetesAPI(f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
