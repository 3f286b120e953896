"""Notifications to people: the escalation SNS topic (subscribers of the operator's choice)."""

from __future__ import annotations

from typing import Any

from incident_core.models.incident import Incident


class SnsNotifier:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def notify(self, incident: Incident, subject: str, message: str) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject[:100],
            Message=message,
            MessageAttributes={
                "incident": {"DataType": "String", "StringValue": incident.identifier},
                "severity": {"DataType": "String", "StringValue": incident.severity.value},
            },
        )
