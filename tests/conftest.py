"""Shared pytest fixtures (the browser suite's are defined in browser_lab.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from browser_lab import artifacts, browser, lab, scratch  # noqa: F401 (fixtures of the browser suite)


@dataclass
class LocalServer:
    """A tiny HTTP server on 127.0.0.1 that serves byte strings set by the test."""

    base_url: str
    routes: dict[str, bytes] = field(default_factory=dict)
    # paths whose response announces more bytes than it sends, then closes: an interrupted transfer
    truncated: set[str] = field(default_factory=set)
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """Start an HTTP server on a free port of 127.0.0.1 for one test, and stop it afterwards."""
    state: dict[str, LocalServer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server = state["server"]
            path = self.path.lstrip("/")
            server.hits.append(path)
            if path not in server.routes:
                self.send_error(404)
                return
            body = server.routes[path]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if path in server.truncated:
                self.send_header("Content-Length", str(len(body) * 2))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = httpd.server_address[:2]
    state["server"] = LocalServer(base_url=f"http://{host}:{port}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
