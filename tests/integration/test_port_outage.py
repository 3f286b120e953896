"""A 10-minute Port outage during an alert storm, on a simulated clock: every alert is stored while Port is down,
and every one reaches Port afterwards, in its stored status, by the outbox schedule alone (no redrive)."""

from __future__ import annotations

import json

from incident_core import aws
from incident_core.models import Source
from incident_core.store.alerts import AlertStore
from incident_core.store.scan import scan_items
from tests.events import webhook_event
from tests.integration.conftest import Stack

NOTIFICATIONS = 13
ALERTS_PER_NOTIFICATION = 8
OUTAGE_START, OUTAGE_END = 60, 660
TICK = 30


def _notification(number: int, *, resolved: bool = False) -> tuple[dict[str, str], bytes]:
    """Alertmanager's notification `number`: 8 alerts of the checkout service, one of them critical."""
    headers, body = webhook_event("prometheus", "firing")
    payload = json.loads(body)
    template = payload["alerts"][0]
    payload["status"] = "resolved" if resolved else "firing"
    payload["alerts"] = [
        {
            **template,
            "status": payload["status"],
            "labels": {
                **template["labels"],
                "instance": f"checkout-{number}-{index}:8080",
                "severity": "critical" if index == 0 else "warning",
            },
            "endsAt": "2026-11-27T08:45:00Z" if resolved else "0001-01-01T00:00:00Z",
            "fingerprint": f"{number:04x}{index:012x}",
        }
        for index in range(ALERTS_PER_NOTIFICATION)
    ]
    return headers, json.dumps(payload).encode()


def test_a_ten_minute_port_outage_during_a_storm_costs_time_not_alerts(clocked_stack: Stack) -> None:
    stack, clock = clocked_stack, clocked_stack.clock
    assert clock is not None
    start = clock.now
    stack.port.outage(start + OUTAGE_START, start + OUTAGE_END)
    alerts = AlertStore(aws.dynamodb().Table(stack.resources.references["AlertsTable"]))
    in_port_when_port_came_back = 0

    for tick in range(40):  # 20 simulated minutes: the processor polls, the schedule drains every minute
        elapsed = clock.now - start
        if tick < NOTIFICATIONS:
            assert stack.post(Source.PROMETHEUS, *_notification(tick)).status == 202
        if 3 <= tick < NOTIFICATIONS + 3:  # each notification's alerts resolve 90 s later
            assert stack.post(Source.PROMETHEUS, *_notification(tick - 3, resolved=tick % 2 == 0)).status == 202
        stack.drain()
        assert stack.queued() == 0  # stored at once, Port or not
        if tick % 2:
            stack.drain_outbox()
        if OUTAGE_END <= elapsed < OUTAGE_END + TICK:
            in_port_when_port_came_back = len(stack.port_alerts())
        clock.advance(TICK)

    stored = {record.identifier: record.status.value for record in alerts.scan()}
    in_port = {identifier: entity["properties"]["status"] for identifier, entity in stack.port_alerts().items()}
    assert len(stored) == NOTIFICATIONS * ALERTS_PER_NOTIFICATION
    assert in_port == stored
    assert in_port_when_port_came_back < len(stored)  # the outage cost time ...
    assert list(scan_items(aws.dynamodb().Table(stack.resources.references["PortOutboxTable"]))) == []
    assert stack.queued(stack.dead_letter_url) == 0  # ... and no alert: nothing parked, nothing to redrive
    assert stack.port.refused == []
    assert stack.port.violations == []
