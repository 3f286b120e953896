"""A held-out set of real-shaped webhook payloads: the shapes each tool sends besides the samples in events/.

Each is built from a sample by the change a real sender makes (Alertmanager's zero `startsAt`, a legacy
Grafana channel, a Dynatrace problem without the v2 object, a Datadog recovery seen before its trigger, a
New Relic issue closed at once, a Sentry issue resolved first...) and signed with the example secrets, so it
goes through the same authentication as a real request.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.events import example_secrets, webhook_event

SIGNATURE_HEADERS = {"grafana": "X-Grafana-Alerting-Signature", "sentry": "Sentry-Hook-Signature"}


@dataclass(frozen=True)
class Payload:
    source: str
    name: str
    headers: dict[str, str]
    body: bytes


def signed(source: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """`headers` with the body's HMAC signature redone for Grafana and Sentry (the others carry a token)."""
    header = SIGNATURE_HEADERS.get(source)
    if header is None or header not in headers:
        return headers
    key = example_secrets()[source]["hmac"].encode()
    return {**headers, header: hmac.new(key, body, hashlib.sha256).hexdigest()}


def _variant(source: str, sample: str, name: str, change: Callable[[dict[str, Any]], None]) -> Payload:
    headers, body = webhook_event(source, sample)
    payload = copy.deepcopy(json.loads(body))
    change(payload)
    encoded = json.dumps(payload).encode()
    return Payload(source, name, signed(source, headers, encoded), encoded)


def _alertmanager_alert(payload: dict[str, Any], index: int, **fields: Any) -> None:
    payload["alerts"][index].update(fields)


def _prometheus() -> Iterator[Payload]:
    yield _variant(
        "prometheus",
        "firing",
        "zero-starts-at",
        lambda p: _alertmanager_alert(p, 0, startsAt="0001-01-01T00:00:00Z", fingerprint="0d1e2f3a4b5c6d7e"),
    )
    yield _variant(
        "prometheus",
        "firing",
        "no-starts-at",
        lambda p: (p["alerts"][1].pop("startsAt"), _alertmanager_alert(p, 1, fingerprint="1a2b3c4d5e6f7081")),
    )
    yield _variant(
        "prometheus",
        "resolved",
        "resolved-never-seen-firing",
        lambda p: _alertmanager_alert(p, 0, fingerprint="9f8e7d6c5b4a3921", startsAt="0001-01-01T00:00:00Z"),
    )

    def storm(p: dict[str, Any]) -> None:
        template = p["alerts"][0]
        p["alerts"] = [
            {
                **template,
                "labels": {**template["labels"], "instance": f"checkout-{i}:8080", "severity": "warning"},
                "fingerprint": f"5e{i:014x}",
                "generatorURL": "",
            }
            for i in range(8)
        ]

    yield _variant("prometheus", "firing", "group-of-eight-without-generator-url", storm)
    yield _variant(
        "prometheus",
        "firing",
        "unknown-service-label",
        lambda p: p["alerts"][0]["labels"].update(service="not-in-the-catalog"),
    )


def _grafana() -> Iterator[Payload]:
    yield _variant("grafana", "legacy", "legacy-ok", lambda p: p.update(state="ok", title="[OK] Checkout CPU alert"))
    yield _variant(
        "grafana", "legacy", "legacy-no-data", lambda p: p.update(ruleId=43, state="no_data", evalMatches=[])
    )

    def zero_start(p: dict[str, Any]) -> None:
        for alert in p["alerts"]:
            alert["startsAt"] = "0001-01-01T00:00:00Z"
            alert["fingerprint"] = "7" + alert["fingerprint"][1:]

    yield _variant("grafana", "firing", "zero-starts-at", zero_start)


def _dynatrace() -> Iterator[Payload]:
    def classic(p: dict[str, Any]) -> None:
        p.pop("ProblemDetailsJSONv2", None)
        p.update(PID="-1234567890123456789_1795767300000V2", ProblemID="P-26112799")

    yield _variant("dynatrace", "open", "without-the-v2-object", classic)

    def classic_resolved(p: dict[str, Any]) -> None:
        p.pop("ProblemDetailsJSONv2", None)
        p.update(PID="-1234567890123456789_1795767300000V2", ProblemID="P-26112799")

    yield _variant("dynatrace", "resolved", "resolved-without-the-v2-object", classic_resolved)


def _datadog() -> Iterator[Payload]:
    yield _variant(
        "datadog",
        "recovered",
        "recovery-seen-first",
        lambda p: p.update(alert_id="148902999", id="7374408517266709999", alert_scope="service:payments"),
    )

    def warn(p: dict[str, Any]) -> None:
        p.update(alert_id="148900001", alert_transition="Warn", alert_type="warning", id="7374408517266700001")

    yield _variant("datadog", "triggered", "warn", warn)
    yield _variant("datadog", "triggered", "no-data", lambda p: p.update(alert_transition="No Data"))


def _newrelic() -> Iterator[Payload]:
    def closed_at_once(p: dict[str, Any]) -> None:
        p.update(id="0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9", state="CLOSED", closedAt=p["createdAt"] + 60_000)

    yield _variant("newrelic", "activated", "closed-at-once", closed_at_once)
    yield _variant(
        "newrelic",
        "activated",
        "low-priority-many-entities",
        lambda p: p.update(
            id="1b2c3d4e-5f60-4172-8394-b5c6d7e8f901", priority="LOW", impactedEntities=["checkout-api", "payments"]
        ),
    )


def _sentry() -> Iterator[Payload]:
    def resolved_first(p: dict[str, Any]) -> None:
        p["data"]["issue"]["id"] = "4501979999"

    yield _variant("sentry", "issue-resolved", "resolved-first", resolved_first)

    def unhandled_fatal(p: dict[str, Any]) -> None:
        p["data"]["issue"].update(id="4501970001", level="fatal", priority="high")

    yield _variant("sentry", "issue-created", "fatal", unhandled_fatal)


def heldout_payloads() -> list[Payload]:
    return [*_prometheus(), *_grafana(), *_dynatrace(), *_datadog(), *_newrelic(), *_sentry()]
