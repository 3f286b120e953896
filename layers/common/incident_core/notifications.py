"""Notifications to people: the escalation SNS topic (subscribers of the operator's choice), and optional
Slack and Microsoft Teams incoming webhooks. Each message carries the incident's context and its Port link."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from incident_core.models.incident import Incident
from incident_core.providers.http import VendorHttp


class SnsNotifier:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def notify(self, incident: Incident, subject: str, message: str) -> None:
        self.page(incident, [], subject, message)

    def page(self, incident: Incident, recipients: Sequence[str], subject: str, message: str) -> None:
        attributes = {
            "incident": {"DataType": "String", "StringValue": incident.identifier},
            "severity": {"DataType": "String", "StringValue": incident.severity.value},
        }
        if recipients:
            # Subscription filter policies can route a page to the right person's endpoint.
            attributes["recipients"] = {"DataType": "String.Array", "StringValue": _json_list(recipients)}
        self._sns.publish(
            TopicArn=self._topic_arn, Subject=subject[:100], Message=message, MessageAttributes=attributes
        )


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


@dataclass
class ChatWebhookNotifier:
    """An incoming webhook of Slack or Teams: both accept `{"text": ...}`."""

    http: VendorHttp
    url: str

    def page(self, incident: Incident, recipients: Sequence[str], subject: str, message: str) -> None:
        self.http.request("POST", self.url, json_body={"text": f"*{subject}*\n{message}"})


@dataclass
class Pagers:
    """Every configured channel gets the page; the SNS topic always does."""

    channels: list[Any] = field(default_factory=list)

    def page(self, incident: Incident, recipients: Sequence[str], subject: str, message: str) -> None:
        for channel in self.channels:
            channel.page(incident, recipients, subject, message)


def chat_notifiers(urls: dict[str, str], transport: httpx.BaseTransport | None = None) -> list[ChatWebhookNotifier]:
    """Notifiers for the configured chat webhooks (`slackWebhookUrl`, `teamsWebhookUrl`)."""
    notifiers = []
    for key, vendor in (("slackWebhookUrl", "Slack"), ("teamsWebhookUrl", "Microsoft Teams")):
        if urls.get(key):
            client = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0), transport=transport)
            notifiers.append(ChatWebhookNotifier(VendorHttp(vendor, client), urls[key]))
    return notifiers
