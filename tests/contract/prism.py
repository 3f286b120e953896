"""The vendors' own OpenAPI descriptions served by prism (`@stoplight/prism-cli`) as validating mocks.

A request the spec rejects comes back flagged (the `sl-violations` header, or a 422 problem body with a
`validation` array); `ValidatingTransport` records those, so a contract test asserts `violations == []`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack.template import REPO

PRISM = REPO / "node_modules" / ".bin" / "prism"
VENDOR_SPECS = REPO.parent / "shared" / "vendor-specs"
STARTUP_SECONDS = 90  # the 2.8 MB PagerDuty description takes ~10 s to load on 2 cores; CI may be slower


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def patched_spec(spec_file: str, edit: Callable[[dict[str, Any]], None], folder: Path) -> Path:
    """A copy of a vendor's description with a known defect fixed by `edit`, written to `folder`.

    The shared copies stay untouched; a test that needs the fix says which defect and why.
    """
    document = json.loads((VENDOR_SPECS / spec_file).read_text(encoding="utf-8"))
    edit(document)
    patched = folder / f"patched-{spec_file}"
    patched.write_text(json.dumps(document), encoding="utf-8")
    return patched


class PrismServer:
    def __init__(self, spec_file: str | Path, log_dir: Path) -> None:
        spec = spec_file if isinstance(spec_file, Path) else VENDOR_SPECS / spec_file
        if not spec.is_file():
            raise FileNotFoundError(f"{spec} is missing: the vendor specs live in ../shared/vendor-specs")
        if not PRISM.exists():
            raise FileNotFoundError(f"{PRISM} is missing: `make test` installs it with npm")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = (log_dir / f"prism-{spec.stem}.log").open("w+")
        self._process = subprocess.Popen(
            [str(PRISM), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port), "--errors"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                httpx.get(f"{self.url}/__prism_ready__", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.25)
        self.stop()
        self._log.seek(0)
        raise RuntimeError(f"prism did not start:\n{self._log.read()[-2000:]}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._log.close()


@dataclass
class Violation:
    method: str
    url: str
    status: int
    problems: list[Any]


@dataclass
class ValidatingTransport(httpx.BaseTransport):
    """Sends to prism and keeps every violation prism reports; `answered` lists (method, path, status)."""

    inner: httpx.BaseTransport = field(default_factory=httpx.HTTPTransport)
    violations: list[Violation] = field(default_factory=list)
    answered: list[tuple[str, str, int]] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.answered.append((request.method, request.url.path, response.status_code))
        problems: list[Any] = []
        header = response.headers.get("sl-violations")
        if header:
            problems += [v for v in json.loads(header) if v.get("severity") == "Error"]
        if response.status_code == 422 and "problem+json" in response.headers.get("content-type", ""):
            problems += response.json().get("validation", []) or [response.json()]
        if response.status_code == 404 and "NO_PATH_MATCHED" in response.text:
            problems.append({"message": f"no such path in the spec: {request.method} {request.url.path}"})
        if response.status_code == 405:
            problems.append({"message": f"the spec has no {request.method} on {request.url.path}"})
        if problems:
            self.violations.append(Violation(request.method, str(request.url), response.status_code, problems))
        return response


@dataclass
class RecordingTransport(httpx.BaseTransport):
    """Keeps each request as sent: prism's answers are placeholders, so the request is what there is to check."""

    inner: httpx.BaseTransport = field(default_factory=httpx.HTTPTransport)
    sent: list[httpx.Request] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        return self.inner.handle_request(request)
