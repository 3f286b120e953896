"""Start `make run`'s local stack as a user does (`python -m devstack`), on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from devstack.template import REPO

PATIENCE = 120.0
"""Seconds a test waits for what the stack does in a few: room for a loaded machine, never a measurement
(how fast the stack answers is `make bench`'s to say)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    def __init__(self, api: str, aws: str, environment: dict[str, str]) -> None:
        self.api = api
        self.aws = aws
        self.environment = environment

    def cli(self, *args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "incident_core", *args, "--local", "--json"],
            capture_output=True,
            text=True,
            env={**self.environment, "DEVSTACK_AWS_URL": self.aws},
            check=True,
            timeout=PATIENCE,
        )
        return json.loads(done.stdout)

    def wait_until(self, read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = PATIENCE) -> Any:
        """Poll `read` until `done` holds or the time is up; returns the last value read."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value) or time.monotonic() > deadline:
                return value
            time.sleep(0.3)


@contextmanager
def local_stack(log_file: Path, **environment: str) -> Iterator[LocalStack]:
    api_port, aws_port = free_port(), free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PORT_", "AWS_"))}
    env = {**clean, **environment}
    with log_file.open("w+") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", str(api_port), "--aws-port", str(aws_port)],
            cwd=REPO,
            env=env,
            stdout=output,  # a file, not a pipe: a full pipe would stall the stack
            stderr=subprocess.STDOUT,
            text=True,
        )
        api = f"http://127.0.0.1:{api_port}"
        try:
            deadline = time.monotonic() + PATIENCE
            while True:
                try:
                    httpx.get(f"{api}/", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        output.seek(0)
                        raise RuntimeError(f"the local stack did not start:\n{output.read()}") from None
                    time.sleep(0.2)
            yield LocalStack(api, f"http://127.0.0.1:{aws_port}", env)
        finally:
            process.terminate()
            process.wait(timeout=10)
