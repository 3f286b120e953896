"""The channels that carry pages: the escalation SNS topic (subscribers of the operator's choice), and
optional Slack and Microsoft Teams incoming webhooks. Each implements `models.page.Pager`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from incident_core.models.page import Page, Pager
from incident_core.providers.http import VendorHttp


class SnsPager:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def page(self, page: Page) -> None:
        attributes = {
            "incident": {"DataType": "String", "StringValue": page.incidentId},
            "severity": {"DataType": "String", "StringValue": page.severity.value},
        }
        if page.recipients:
            # Subscription filter policies can route a page to the right person's endpoint.
            attributes["recipients"] = {"DataType": "String.Array", "StringValue": _json_list(page.recipients)}
        self._sns.publish(
            TopicArn=self._topic_arn, Subject=page.subject, Message=page.message, MessageAttributes=attributes
        )


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


@dataclass
class ChatWebhookPager:
    """An incoming webhook of Slack or Teams: both accept `{"text": ...}`."""

    http: VendorHttp
    url: str

    def page(self, page: Page) -> None:
        self.http.request("POST", self.url, json_body={"text": f"*{page.subject}*\n{page.message}"})


@dataclass
class Pagers:
    """Every configured channel gets the page; the SNS topic always does."""

    channels: list[Pager] = field(default_factory=list)

    def page(self, page: Page) -> None:
        for channel in self.channels:
            channel.page(page)


def chat_pagers(urls: dict[str, str], transport: httpx.BaseTransport | None = None) -> list[ChatWebhookPager]:
    """Pagers for the configured chat webhooks (`slackWebhookUrl`, `teamsWebhookUrl`)."""
    pagers = []
    for key, vendor in (("slackWebhookUrl", "Slack"), ("teamsWebhookUrl", "Microsoft Teams")):
        if urls.get(key):
            client = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0), transport=transport)
            pagers.append(ChatWebhookPager(VendorHttp(vendor, client), urls[key]))
    return pagers
