"""`make run`'s local stack, started as a user starts it, driven over HTTP like the monitoring tools do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.template import REPO
from incident_core.models import Source
from tests.events import webhook_event, webhook_event_names

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    def __init__(self, api: str, aws: str) -> None:
        self.api = api
        self.aws = aws

    def cli(self, *args: str) -> Any:
        environment = {**os.environ, "DEVSTACK_AWS_URL": self.aws}
        done = subprocess.run(
            [sys.executable, "-m", "incident_core", *args, "--local", "--json"],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
            timeout=60,
        )
        return json.loads(done.stdout)

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            alerts = {a["identifier"]: a for a in self.cli("alerts", "list")}
            if predicate(alerts) or time.monotonic() > deadline:
                return alerts
            time.sleep(0.5)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    api_port, aws_port = _free_port(), _free_port()
    output = (tmp_path_factory.mktemp("devstack") / "output.log").open("w+")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PORT_CLIENT", "AWS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--api-port", str(api_port), "--aws-port", str(aws_port)],
        cwd=REPO,
        env=environment,
        stdout=output,  # a file, not a pipe: a full pipe would stall the stack
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{api}/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the local stack did not start:\n{process.stdout.read() if process.stdout else ''}"
                    ) from None
                time.sleep(0.2)
        yield LocalStack(api, f"http://127.0.0.1:{aws_port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        output.close()


@pytest.mark.parametrize("source", list(Source))
def test_every_sample_is_accepted_over_http(local_stack: LocalStack, source: Source) -> None:
    for name in webhook_event_names(source.value):
        headers, body = webhook_event(source.value, name)
        answer = httpx.post(f"{local_stack.api}/webhooks/{source.value}", headers=headers, content=body, timeout=10)
        assert answer.status_code in (200, 202), (name, answer.text)
        assert answer.elapsed.total_seconds() < 1.0, name  # Sentry's limit for an answer


def test_an_unsigned_request_is_refused_over_http(local_stack: LocalStack) -> None:
    _, body = webhook_event("sentry", "issue-created")
    answer = httpx.post(
        f"{local_stack.api}/webhooks/sentry",
        headers={"Sentry-Hook-Resource": "issue", "Content-Type": "application/json"},
        content=body,
        timeout=10,
    )
    assert answer.status_code == 401
    assert set(answer.json()) == {"message"}


def test_posted_alerts_are_stored_and_kept_as_port_entities(local_stack: LocalStack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    for _ in range(2):
        assert httpx.post(f"{local_stack.api}/webhooks/prometheus", headers=headers, content=body).status_code == 202

    alerts = local_stack.wait_for(
        lambda found: found.get("prometheus-a81e22c07d9e1b34", {}).get("notificationCount", 0) >= 2
    )
    assert alerts["prometheus-a81e22c07d9e1b34"]["status"] == "open"
    assert alerts["prometheus-a81e22c07d9e1b34"]["service"] == "payments"

    entities = {e["identifier"]: e for e in local_stack.cli("port", "entities")}
    entity = entities["prometheus-a81e22c07d9e1b34"]
    assert entity["syncedToPort"] is False  # no Port credentials: kept locally
    assert entity["entity"]["properties"]["title"] == "PodCrashLooping"
    assert entity["entity"]["relations"] == {"service": "payments"}
