"""The incident context every incident tool is sent, its payload link scanner, and the shared email check."""

from __future__ import annotations

from typing import Any

import pytest

from incident_core.models.alert import AlertStatus, Severity, Source
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName
from incident_core.providers.context import LINKS_PER_ALERT, alert_links, incident_context, is_email

AT = "2026-11-27T10:00:00Z"
PORT_URL = "https://app.getport.io/incidentEntity?identifier=inc-20261127-095500-d4e5f6"


def alert(**changes: Any) -> AlertRecord:
    base = AlertRecord(
        source=Source.GRAFANA,
        externalId="f00d",
        identifier="grafana-f00d",
        title="Payments latency p99 over 2s",
        description="p99 2.4s on payments-api for 10m",
        severity=Severity.CRITICAL,
        status=AlertStatus.OPEN,
        startedAt="2026-11-27T09:50:00Z",
        rawPayload={
            "panelURL": "https://grafana.example.com/d/pay?viewPanel=4",
            "annotations": {"runbook_url": "https://runbooks.example.com/payments", "summary": "slow payments"},
        },
        statusReceivedAt=AT,
        firstSeenAt=AT,
        lastSeenAt=AT,
        service="payments",
    )
    return base.model_copy(update=changes)


def incident(**changes: Any) -> Incident:
    base = Incident(
        identifier="inc-20261127-095500-d4e5f6",
        title="Payments are slow",
        description="Customers wait at checkout",
        severity=Severity.CRITICAL,
        urgency="high",
        provider=ProviderName.PAGERDUTY,
        createdAt=AT,
        services=("checkout", "payments"),
        alerts=("grafana-f00d",),
    )
    return base.model_copy(update=changes)


# Links in alert payloads


def test_links_are_found_under_link_like_keys_at_any_depth_within_the_bound() -> None:
    payload = {
        "generatorURL": "https://prometheus.example.com/graph",
        "alert": {
            "ProblemURL": "https://dynatrace.example.com/problem/1",
            "labels": {"web_url": "https://gl.example/x"},
        },
        "links": ["https://grafana.example.com/d/abc", {"href": "https://docs.example.com/runbook"}],
        "a": {"b": {"c": {"url": "https://too.deep.example.com"}}},
    }

    assert alert_links(payload) == [
        "https://prometheus.example.com/graph",
        "https://dynatrace.example.com/problem/1",
        "https://gl.example/x",
        "https://grafana.example.com/d/abc",
        "https://docs.example.com/runbook",
    ]
    assert alert_links(payload, depth=1) == ["https://prometheus.example.com/graph"]


def test_only_http_links_under_link_keys_count_and_each_once() -> None:
    payload = {
        "url": "https://app.datadoghq.com/monitors/1",
        "link": "https://app.datadoghq.com/monitors/1",
        "silenceURL": "ftp://alertmanager.example.com/silence",
        "issue_url": "not a link",
        "imageUrl": 42,
        "title": "https://looks.like.a.link.example.com",
        "tags": ["env:prod", "https://tagged.example.com"],
    }

    assert alert_links(payload) == ["https://app.datadoghq.com/monitors/1"]


@pytest.mark.parametrize("payload", [None, "https://x.example.com", 3, [], {}])
def test_a_payload_without_links_has_none(payload: Any) -> None:
    assert alert_links(payload) == []


# The incident context


def test_the_context_carries_the_incident_then_each_alert_with_its_links() -> None:
    text = incident_context(incident(), [alert()], PORT_URL)

    for expected in (
        "Customers wait at checkout",
        "Severity: critical (urgency high)",
        "Services: checkout, payments",
        f"Port incident inc-20261127-095500-d4e5f6: {PORT_URL}",
        "Alert: Payments latency p99 over 2s",
        "Grafana, severity critical, status open, since 2026-11-27T09:50:00Z",
        "Dedup key: grafana-f00d",
        "Service: payments",
        "p99 2.4s on payments-api for 10m",
        "Link: https://grafana.example.com/d/pay?viewPanel=4",
        "Link: https://runbooks.example.com/payments",
    ):
        assert expected in text
    # The incident's lines come first, so a tool that cuts the text keeps the way back to Port.
    assert text.index(PORT_URL) < text.index("Alert:")


def test_links_are_capped_per_alert() -> None:
    many = {f"panel{n}URL": f"https://dash.example.com/{n}" for n in range(10)}

    default = incident_context(incident(), [alert(rawPayload=many)], PORT_URL)
    two = incident_context(incident(), [alert(rawPayload=many)], PORT_URL, links_per_alert=2)

    assert default.count("Link: ") == LINKS_PER_ALERT
    assert two.count("Link: ") == 2
    assert "Link: https://dash.example.com/0" in two


def test_a_description_shared_with_the_incident_or_the_title_is_written_once() -> None:
    same = incident(description="p99 2.4s on payments-api for 10m")
    titled = alert(externalId="c3", description="Payments latency p99 over 2s")

    text = incident_context(same, [alert(), titled], PORT_URL)

    assert text.count("p99 2.4s on payments-api for 10m") == 1
    assert text.count("Payments latency p99 over 2s") == 2  # the two alert titles, no description line


def test_alert_descriptions_can_be_shortened_and_keep_their_lines() -> None:
    long_alert = alert(description="first line\n" + "x" * 50)

    text = incident_context(incident(), [long_alert], None, alert_description_limit=20)

    assert "  first line\n  xxxxxxxx…" in text
    assert "x" * 20 not in text


def test_the_tool_s_own_urgency_wins_over_the_incident_s() -> None:
    assert "Severity: critical (urgency high)" in incident_context(incident(urgency="low"), [], None, urgency="high")


def test_without_alerts_or_a_port_page_the_context_still_names_the_incident() -> None:
    text = incident_context(incident(description="", services=()), [], None)

    assert text == "Severity: critical (urgency high)\nPort incident: inc-20261127-095500-d4e5f6"


def test_an_alert_without_start_service_or_links_still_says_what_and_where() -> None:
    bare = alert(startedAt=None, service=None, rawPayload={}, description="")

    text = incident_context(incident(), [bare], PORT_URL)

    assert text.endswith(
        "Alert: Payments latency p99 over 2s\n  Grafana, severity critical, status open\n  Dedup key: grafana-f00d"
    )


# Emails


@pytest.mark.parametrize("value", ["ana@example.com", "a.b+tag@mail.example.co.uk"])
def test_is_email_accepts_addresses(value: str) -> None:
    assert is_email(value)


@pytest.mark.parametrize(
    "value", [None, "", "Ana", "payments-team", "a@b@c.com", "ana @example.com", "ana@localhost", "@example.com"]
)
def test_is_email_refuses_names_ids_and_malformed_addresses(value: str | None) -> None:
    assert not is_email(value)
