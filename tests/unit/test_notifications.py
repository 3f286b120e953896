"""Pages reach every configured channel: the SNS topic, and Slack or Teams incoming webhooks."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from incident_core.errors import ProviderApiError
from incident_core.models.alert import Severity
from incident_core.models.incident import Incident
from incident_core.notifications import Pagers, SnsNotifier, chat_notifiers
from incident_core.retry import RetryPolicy

INCIDENT = Incident(
    identifier="inc-1", title="Checkout down", severity=Severity.CRITICAL, createdAt="2026-11-27T09:00:00.000Z"
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
        [SnsNotifier(sns, "arn:aws:sns:us-east-1:1:EscalationTopic"), *chat_notifiers(urls, httpx.MockTransport(chat))]
    )

    pagers.page(INCIDENT, ["ann@example.com", "sre"], "Checkout down — level 1", "Paged: ann@example.com, sre.")

    (published,) = sns.published
    assert published["Subject"] == "Checkout down — level 1"
    assert json.loads(published["MessageAttributes"]["recipients"]["StringValue"]) == ["ann@example.com", "sre"]
    assert published["MessageAttributes"]["severity"]["StringValue"] == "critical"
    assert [url for url, _ in posted] == [urls["slackWebhookUrl"], urls["teamsWebhookUrl"]]
    assert all("Checkout down — level 1" in body["text"] and "Paged: ann" in body["text"] for _, body in posted)


def test_no_chat_webhook_configured_means_sns_only() -> None:
    assert chat_notifiers({}) == []
    assert chat_notifiers({"slackWebhookUrl": ""}) == []


def test_a_chat_webhook_that_refuses_says_so_with_the_vendors_words() -> None:
    refuse = httpx.MockTransport(lambda request: httpx.Response(404, text="no_service"))
    (slack,) = chat_notifiers({"slackWebhookUrl": "https://hooks.slack.example/T/B/x"}, refuse)
    slack.http.retry = RetryPolicy(max_attempts=1)
    with pytest.raises(ProviderApiError) as refused:
        slack.page(INCIDENT, [], "subject", "message")
    assert "Slack answered 404" in refused.value.message
    assert "no_service" in refused.value.message
