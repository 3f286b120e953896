"""A small HTTP API in front of the local functions: API Gateway HTTP API (payload 2.0) semantics."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.runtime import LocalFunction

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit


def http_api_event(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


class Gateway:
    def __init__(self, host: str, port: int, routes: dict[tuple[str, str], LocalFunction]) -> None:
        self.routes = routes
        gateway = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                gateway.handle(self)

            def do_GET(self) -> None:
                gateway.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the gateway prints one line per request itself

        self._server = ThreadingHTTPServer((host, port), RequestHandler)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        function = self.routes.get((request.command, path))
        if function is None:
            self._reply(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
            return
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._reply(request, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            return
        body = request.rfile.read(length)
        started = time.perf_counter()
        event = http_api_event(request.command, path, dict(request.headers.items()), body)
        try:
            answer = function.invoke(event)
        except Exception as exc:  # the function crashed: API Gateway answers 500 too
            print(f"  {request.command} {path} -> 500 ({exc.__class__.__name__}: {exc})", flush=True)
            self._reply(request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
            return
        status = int(answer.get("statusCode", 200))
        print(
            f"  {request.command} {path} -> {status} in {(time.perf_counter() - started) * 1000:.0f} ms",
            flush=True,
        )
        body_out = answer.get("body") or ""
        raw = base64.b64decode(body_out) if answer.get("isBase64Encoded") else str(body_out).encode()
        self._reply(request, status, answer.get("headers") or {}, raw)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
