"""Shared fixtures: a real local HTTP server (the "rest of the world" requests must still reach)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REAL_STATUS = 418
"""What the local server answers every request with, so a reply from it is unmistakable."""


class _Echo(BaseHTTPRequestHandler):
    """Answers any method with 418 and ``real <METHOD> <path>``."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = f"real {self.command} {self.path}".encode()
        self.send_response(REAL_STATUS)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture(scope="session")
def local_server() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of a real HTTP server on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
