"""Test helpers: a stdlib HTTP server on loopback that answers with a function, and the real
`git http-backend` served through it as CGI (git's smart HTTP for bare repositories)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@contextlib.contextmanager
def serving(handle: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """http://127.0.0.1:PORT answering every GET with `handle`; stopped on exit."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            handle(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def http_backend(project_root: Path) -> contextlib.AbstractContextManager[str]:
    """The bare repositories under `project_root`, read-only over smart HTTP."""
    def handle(req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        env = {"PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(project_root),
               "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": "GET", "PATH_INFO": url.path,
               "QUERY_STRING": url.query, "REMOTE_ADDR": "127.0.0.1"}
        out = subprocess.run(["git", "http-backend"], env=env, capture_output=True,
                             timeout=10, check=False).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if line)
        req.send_response(int(headers.pop("Status", "200").split()[0]))
        for name, value in headers.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return serving(handle)
