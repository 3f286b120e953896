"""Port traffic of an Alertmanager notification storm, through the whole in-process stack.

Alertmanager re-sends a group every `group_interval` with every alert of the group still firing, and
sends an alert that resolved once more as `resolved` (with its `endsAt`) before dropping it. Modelled
here: one group of 10 firing alerts (services checkout and payments, which exist in Port), one request
per interval for 100 intervals; at interval 50 three alerts resolve; at interval 70 one of them fires
again with a new `startsAt`. The queue is drained after every interval, as the processor keeps up.

Only visible changes should reach Port: 10 first sightings + 3 resolves + 1 re-fire = 14 entity writes,
however many notifications arrive. Every notification must still be counted on its stored alert.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from incident_core import aws
from incident_core.models import Source
from incident_core.store.alerts import AlertStore
from tests.bench.figures import Figure
from tests.bench.harness import handler_logs_captured, local_stack
from tests.events import WEBHOOK_EVENTS, webhook_event
from tests.fakes.port import TOKEN_ROUTE
from tests.integration.conftest import Stack

BULK_ROUTE = "POST /v1/blueprints/{blueprint_identifier}/entities/bulk"
ALERTS = 10
INTERVALS = 100
RESOLVE_AT = 50
RESOLVING = (7, 8, 9)
REFIRE_AT = 70
REFIRING = 9
STARTS_AT = "2026-11-27T08:{minute:02d}:03Z"
ENDS_AT = "2026-11-27T09:30:00Z"
REFIRED_STARTS_AT = "2026-11-27T10:15:00Z"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of a firing alert
EXPECTED_ENTITY_WRITES = ALERTS + len(RESOLVING) + 1


def fingerprint(index: int) -> str:
    return f"5707a1e7{index:08x}"


def identifier(index: int) -> str:
    return f"{Source.PROMETHEUS.value}-{fingerprint(index)}"


@dataclass
class StormAlert:
    index: int
    payload: dict[str, Any]
    state: str = "firing"  # firing, resolving (sent once as resolved), gone
    notifications: int = 0


@dataclass
class StormResult:
    intervals: int
    webhook_requests: int
    notifications: int
    notification_count_total: int
    bulk_requests: int
    entity_writes: int
    incident_writes: int
    token_requests: int
    port_requests: int
    port_requests_by_route: dict[str, int]
    writes_by_interval: dict[int, int]
    seconds: float
    per_alert_counts: dict[str, int] = field(default_factory=dict)

    def per_thousand(self, value: int) -> float:
        return value * 1000 / self.notifications

    def as_json(self) -> dict[str, Any]:
        return {
            "alerts": ALERTS,
            "intervals": self.intervals,
            "resolved_at_interval": {str(RESOLVE_AT): [identifier(i) for i in RESOLVING]},
            "refired_at_interval": {str(REFIRE_AT): identifier(REFIRING)},
            "webhook_requests": self.webhook_requests,
            "notifications": self.notifications,
            "notification_count_total": self.notification_count_total,
            "port_bulk_requests": self.bulk_requests,
            "port_entity_writes": self.entity_writes,
            "port_incident_writes": self.incident_writes,
            "port_token_requests": self.token_requests,
            "port_requests": self.port_requests,
            "port_requests_by_route": self.port_requests_by_route,
            "entity_writes_by_interval": {str(k): v for k, v in self.writes_by_interval.items()},
            "per_1000_notifications": {
                "port_requests": self.per_thousand(self.port_requests),
                "port_bulk_requests": self.per_thousand(self.bulk_requests),
                "port_entity_writes": self.per_thousand(self.entity_writes),
                "port_token_requests": self.per_thousand(self.token_requests),
            },
            "per_alert_notification_count": self.per_alert_counts,
            "seconds": self.seconds,
        }


def storm_alerts() -> list[StormAlert]:
    """10 alerts built from the firing sample: distinct fingerprints and alertnames, two services."""
    sample = json.loads((WEBHOOK_EVENTS / "prometheus" / "firing.body.json").read_bytes())
    templates = sample["alerts"]
    alerts = []
    for index in range(ALERTS):
        alert = copy.deepcopy(templates[index % len(templates)])
        alert["labels"] |= {
            "alertname": f"StormAlert{index}",
            "service": ("checkout", "payments")[index % 2],
        }
        alert |= {
            "status": "firing",
            "startsAt": STARTS_AT.format(minute=index),
            "endsAt": ZERO_TIME,
            "fingerprint": fingerprint(index),
        }
        alerts.append(StormAlert(index, alert))
    return alerts


def group_request(group: dict[str, Any], alerts: list[StormAlert]) -> bytes:
    """One Alertmanager notification of the group: every alert still firing, plus those just resolved."""
    present = [a for a in alerts if a.state in ("firing", "resolving")]
    firing = any(a.state == "firing" for a in present)
    body = {
        **group,
        "status": "firing" if firing else "resolved",
        "alerts": [a.payload for a in present],
        "notification_reason": "group interval",
    }
    return json.dumps(body).encode()


def _advance(alerts: list[StormAlert], interval: int) -> None:
    """The group's state for `interval` (1-based), as Alertmanager would send it."""
    for alert in alerts:
        if alert.state == "resolving":
            alert.state = "gone"  # sent once as resolved; then absent
    if interval == RESOLVE_AT:
        for index in RESOLVING:
            alerts[index].state = "resolving"
            alerts[index].payload |= {"status": "resolved", "endsAt": ENDS_AT}
    if interval == REFIRE_AT:
        alerts[REFIRING].state = "firing"
        alerts[REFIRING].payload |= {"status": "firing", "startsAt": REFIRED_STARTS_AT, "endsAt": ZERO_TIME}


def _entity_writes(stack: Stack, blueprint: str = "alert") -> int:
    """Entities of `blueprint` sent to Port (the critical alerts also open an incident, counted apart)."""
    path = f"/v1/blueprints/{blueprint}/entities/bulk"
    return sum(len(r.body["entities"]) for r in stack.port.requests if r.route == BULK_ROUTE and r.path == path)


def _stored_counts(stack: Stack) -> dict[str, int]:
    table = aws.dynamodb().Table(stack.resources.references["AlertsTable"])
    return {record.identifier: record.notificationCount for record in AlertStore(table).scan()}


def _run(stack: Stack) -> StormResult:
    headers, sample = webhook_event("prometheus", "firing")
    group = {k: v for k, v in json.loads(sample).items() if k not in ("alerts", "status")}
    alerts = storm_alerts()
    requests = notifications = 0
    writes_by_interval: dict[int, int] = {}
    started = time.perf_counter()
    for interval in range(1, INTERVALS + 1):
        _advance(alerts, interval)
        body = group_request(group, alerts)
        sent = [a for a in alerts if a.state in ("firing", "resolving")]
        answer = stack.post(Source.PROMETHEUS, headers, body)
        assert answer.status == 202, f"interval {interval}: {answer.status} {answer.body}"
        assert answer.body["alerts"] == [identifier(a.index) for a in sent]
        requests += 1
        notifications += len(sent)
        for alert in sent:
            alert.notifications += 1
        writes_before = _entity_writes(stack)
        stack.drain()
        assert stack.queued() == 0, f"interval {interval}: the queue did not drain"
        if (written := _entity_writes(stack) - writes_before) > 0:
            writes_by_interval[interval] = written
    seconds = time.perf_counter() - started

    routes = Counter(r.route or r.path for r in stack.port.requests)
    counts = _stored_counts(stack)
    result = StormResult(
        intervals=INTERVALS,
        webhook_requests=requests,
        notifications=notifications,
        notification_count_total=sum(counts.values()),
        bulk_requests=stack.bulk_writes(),
        entity_writes=_entity_writes(stack),
        incident_writes=_entity_writes(stack, "incident"),
        token_requests=routes[TOKEN_ROUTE],
        port_requests=len(stack.port.requests),
        port_requests_by_route=dict(routes),
        writes_by_interval=writes_by_interval,
        seconds=seconds,
        per_alert_counts=dict(sorted(counts.items())),
    )
    _check(stack, result, alerts)
    return result


def _check(stack: Stack, result: StormResult, alerts: list[StormAlert]) -> None:
    """The storm's invariants; a wrong count fails the benchmark loudly."""
    problems = []
    if stack.port.violations:
        problems.append(f"FakePort saw requests Port would refuse: {stack.port.violations}")
    if stack.queued(stack.dead_letter_url):
        problems.append(f"{stack.queued(stack.dead_letter_url)} message(s) parked in the dead-letter queue")
    if result.notification_count_total != result.notifications:
        problems.append(
            f"stored notificationCount total {result.notification_count_total} != {result.notifications} sent"
        )
    expected_counts = {identifier(a.index): a.notifications for a in alerts}
    if result.per_alert_counts != expected_counts:
        problems.append(f"per-alert counts {result.per_alert_counts} != sent {expected_counts}")
    if result.entity_writes != EXPECTED_ENTITY_WRITES:
        problems.append(
            f"Port entity writes {result.entity_writes} != {EXPECTED_ENTITY_WRITES} visible changes "
            f"(writes by interval: {result.writes_by_interval})"
        )
    expected_by_interval = {1: ALERTS, RESOLVE_AT: len(RESOLVING), REFIRE_AT: 1}
    if result.writes_by_interval != expected_by_interval:
        problems.append(f"writes by interval {result.writes_by_interval} != {expected_by_interval}")
    port = stack.port_alerts()
    for alert in alerts:
        stored = port.get(identifier(alert.index), {}).get("properties", {})
        want = "resolved" if alert.state == "gone" else "open"
        if stored.get("status") != want:
            problems.append(f"{identifier(alert.index)} is {stored.get('status')!r} in Port, expected {want!r}")
    if problems:
        raise AssertionError("notification storm invariants failed:\n- " + "\n- ".join(problems))


def run() -> StormResult:
    with local_stack() as stack, handler_logs_captured():
        return _run(stack)


def group() -> tuple[list[Figure], dict[str, Any]]:
    """Port requests per 1,000 notifications, against one request per notification (projecting each)."""
    flood = run()
    figure = Figure(
        name=f"storm: Port requests per 1,000 notifications ({ALERTS} alerts x {INTERVALS} intervals)",
        measured=flood.per_thousand(flood.port_requests),
        baseline=1000.0,
        baseline_name="one per notification",
        unit="requests",
    )
    return [figure], flood.as_json()
