"""FakePort over real HTTP on loopback, for the local stack's end-to-end tests (a separate process talks to it)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.fakes.port import FakePort


class FakePortServer:
    def __init__(self, port: FakePort, host: str = "127.0.0.1") -> None:
        self.port = port
        lock = threading.Lock()  # FakePort keeps plain dicts: one request at a time

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = httpx.Request(
                    self.command,
                    f"http://{self.headers.get('host', host)}{self.path}",
                    headers=dict(self.headers.items()),
                    content=self.rfile.read(length),
                )
                with lock:
                    response = port.handle(request)
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                body = response.content
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakePortServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
