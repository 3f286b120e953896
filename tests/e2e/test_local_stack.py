"""`make run`'s local stack, started as a user starts it, driven over HTTP like the monitoring tools do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from incident_core.models import Source
from tests.e2e.conftest import PATIENCE, LocalStack, local_stack
from tests.events import webhook_event, webhook_event_names

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(tmp_path_factory.mktemp("devstack") / "output.log") as started:
        yield started


def _alerts(stack: LocalStack) -> dict[str, Any]:
    return {a["identifier"]: a for a in stack.cli("alerts", "list")}


@pytest.mark.parametrize("source", list(Source))
def test_every_sample_is_accepted_over_http(stack: LocalStack, source: Source) -> None:
    for name in webhook_event_names(source.value):
        headers, body = webhook_event(source.value, name)
        answer = httpx.post(f"{stack.api}/webhooks/{source.value}", headers=headers, content=body, timeout=PATIENCE)
        assert answer.status_code in (200, 202), (name, answer.text)


def test_an_unsigned_request_is_refused_over_http(stack: LocalStack) -> None:
    _, body = webhook_event("sentry", "issue-created")
    answer = httpx.post(
        f"{stack.api}/webhooks/sentry",
        headers={"Sentry-Hook-Resource": "issue", "Content-Type": "application/json"},
        content=body,
        timeout=PATIENCE,
    )
    assert answer.status_code == 401
    assert set(answer.json()) == {"message"}


def test_posted_alerts_are_stored_and_kept_as_port_entities(stack: LocalStack) -> None:
    headers, body = webhook_event("prometheus", "firing")
    for _ in range(2):
        assert httpx.post(f"{stack.api}/webhooks/prometheus", headers=headers, content=body).status_code == 202

    alerts = stack.wait_until(
        lambda: _alerts(stack),
        lambda found: found.get("prometheus-a81e22c07d9e1b34", {}).get("notificationCount", 0) >= 2,
    )
    assert alerts["prometheus-a81e22c07d9e1b34"]["status"] == "open"
    assert alerts["prometheus-a81e22c07d9e1b34"]["service"] == "payments"

    entities = {e["identifier"]: e for e in stack.cli("port", "entities")}
    entity = entities["prometheus-a81e22c07d9e1b34"]
    assert entity["syncedToPort"] is False  # no Port credentials: kept locally
    assert entity["entity"]["properties"]["title"] == "PodCrashLooping"
    assert entity["entity"]["relations"] == {"service": "payments"}
