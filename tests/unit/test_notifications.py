"""Pages: one builder composes every page, and a page reaches every configured channel (the SNS topic, and
Slack or Teams incoming webhooks)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from incident_core.errors import ProviderApiError
from incident_core.models.alert import Severity
from incident_core.models.incident import Incident
from incident_core.models.page import SUBJECT_LIMIT, Page
from incident_core.notifications import Pagers, SnsPager, chat_pagers
from incident_core.retry import RetryPolicy

INCIDENT = Incident(
    identifier="inc-1", title="Checkout down", severity=Severity.CRITICAL, createdAt="2026-11-27T09:00:00.000Z"
)


def _page(subject: str, message: str, recipients: tuple[str, ...] = ()) -> Page:
    return Page(
        incidentId=INCIDENT.identifier,
        severity=INCIDENT.severity,
        subject=subject,
        message=message,
        recipients=recipients,
    )


class RecordingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> dict[str, str]:
        self.published.append(request)
        return {"MessageId": "m-1"}


def test_a_page_goes_to_sns_with_its_recipients_and_to_each_chat_webhook() -> None:
    posted: list[tuple[str, dict[str, Any]]] = []

    def chat(request: httpx.Request) -> httpx.Response:
        posted.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200, text="ok")

    sns = RecordingSns()
    urls = {"slackWebhookUrl": "https://hooks.slack.example/T/B/x", "teamsWebhookUrl": "https://teams.example/hook"}
    pagers = Pagers(
        [SnsPager(sns, "arn:aws:sns:us-east-1:1:EscalationTopic"), *chat_pagers(urls, httpx.MockTransport(chat))]
    )

    pagers.page(_page("Checkout down — level 1", "Paged: ann@example.com, sre.", ("ann@example.com", "sre")))

    (published,) = sns.published
    assert published["Subject"] == "Checkout down — level 1"
    assert json.loads(published["MessageAttributes"]["recipients"]["StringValue"]) == ["ann@example.com", "sre"]
    assert published["MessageAttributes"]["severity"]["StringValue"] == "critical"
    assert [url for url, _ in posted] == [urls["slackWebhookUrl"], urls["teamsWebhookUrl"]]
    assert all("Checkout down — level 1" in body["text"] and "Paged: ann" in body["text"] for _, body in posted)


def test_no_chat_webhook_configured_means_sns_only() -> None:
    assert chat_pagers({}) == []
    assert chat_pagers({"slackWebhookUrl": ""}) == []


def test_a_chat_webhook_that_refuses_says_so_with_the_vendors_words() -> None:
    refuse = httpx.MockTransport(lambda request: httpx.Response(404, text="no_service"))
    (slack,) = chat_pagers({"slackWebhookUrl": "https://hooks.slack.example/T/B/x"}, refuse)
    slack.http.retry = RetryPolicy(max_attempts=1)
    with pytest.raises(ProviderApiError) as refused:
        slack.page(_page("subject", "message"))
    assert "Slack answered 404" in refused.value.message
    assert "no_service" in refused.value.message


def test_every_page_is_composed_alike_with_the_headline_first_and_the_way_back_to_port() -> None:
    incident = INCIDENT.model_copy(update={"services": ("checkout", "payments")})

    page = Page.about(
        incident,
        headline="Not acknowledged, paging level 1",
        opening="Incident inc-1 is not acknowledged: paging level 1 of policy Payments.",
        link="https://app.port.io/incidentEntity?identifier=inc-1",
        recipients=["ann@example.com", "sre"],
    )

    assert page.subject == "[CRITICAL] Not acknowledged, paging level 1: Checkout down"
    assert page.message.splitlines() == [
        "Incident inc-1 is not acknowledged: paging level 1 of policy Payments.",
        "Title: Checkout down",
        "Severity: critical, status: triggered",
        "Services: checkout, payments",
        "Paged: ann@example.com, sre",
        "Open in Port: https://app.port.io/incidentEntity?identifier=inc-1",
    ]
    assert (page.incidentId, page.severity, page.recipients) == ("inc-1", Severity.CRITICAL, ("ann@example.com", "sre"))


def test_a_long_title_is_cut_from_the_subject_not_the_headline_and_no_link_means_no_link_line() -> None:
    incident = INCIDENT.model_copy(update={"title": "x" * 300})

    page = Page.about(incident, headline="You were added as a responder", opening="ana added bob.", link=None)

    assert len(page.subject) == SUBJECT_LIMIT
    assert page.subject.startswith("[CRITICAL] You were added as a responder: xxx")
    assert "Services: none yet" in page.message
    assert "Paged:" not in page.message
    assert "Port:" not in page.message
