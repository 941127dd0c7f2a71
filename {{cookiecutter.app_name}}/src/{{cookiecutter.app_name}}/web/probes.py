"""/health, /ready and /metrics on a port of their own, answered by a thread in each web process.

Each uWSGI process serves one request at a time, so while every process reads a large upload a probe sent to the
app's port waits behind them, and Kubernetes would take a busy pod for a dead one. Every web process also listens on
PROBE_PORT (SO_REUSEPORT: the kernel spreads the probes among them) with a small threaded WSGI server that answers
only the probes, from the same Flask views, and the metrics (metrics.py). The Service does not expose this port.
"""

from __future__ import annotations

import socketserver
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask

from ..config import Settings
from .metrics import exposition

PROBES = ("/health", "/ready")
METRICS = "/metrics"


class ProbeServer(socketserver.ThreadingMixIn, WSGIServer):
    allow_reuse_port = True  # one listener per web process, on the same port
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002  a probe every few seconds is not news
        pass


def only_probes(app: Flask, settings: Settings):
    def probes(environ, start_response):
        path = environ.get("PATH_INFO")
        if path in PROBES:
            return app(environ, start_response)
        if path == METRICS:
            body, content_type = exposition(settings)
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"this port answers only {', '.join([*PROBES, METRICS])}\n".encode()]

    return probes


def start_probe_server(app: Flask, settings: Settings, port: int, host: str = "0.0.0.0") -> WSGIServer:
    """Serve the probes and metrics on `port` from a background thread of this process; return the server."""
    server = make_server(host, port, only_probes(app, settings), server_class=ProbeServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
