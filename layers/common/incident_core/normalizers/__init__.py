"""Normalization of monitoring-tool webhooks into the seed's `alert` blueprint.

`normalize(source, headers, raw_body_bytes, secrets)` is the one pure entry point (no I/O, no clock but
the `now` passed in): authenticate over the raw bytes, parse, and map with the source's module.
Each source module exposes `parse(headers, payload) -> list[Alert]`; `NORMALIZERS` registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from incident_core.auth.webhooks import WebhookSecrets, verify_webhook
from incident_core.bounds import parse_json_object
from incident_core.models import Alert, Source
from incident_core.normalizers import datadog, dynatrace, grafana, newrelic, prometheus, sentry
from incident_core.normalizers.common import (
    SAFE_BODY_BYTES,
    TITLE_LIMIT,
    Headers,
    clip,
    lower_headers,
    raw_payload,
)


class SourceParser(Protocol):
    def __call__(self, headers: Headers, payload: dict[str, Any], /) -> list[Alert]: ...


NORMALIZERS: dict[Source, SourceParser] = {
    Source.PROMETHEUS: prometheus.parse,
    Source.GRAFANA: grafana.parse,
    Source.DYNATRACE: dynatrace.parse,
    Source.DATADOG: datadog.parse,
    Source.NEWRELIC: newrelic.parse,
    Source.SENTRY: sentry.parse,
}


def normalize(
    source: Source | str,
    headers: Mapping[str, str],
    raw_body_bytes: bytes,
    secrets: WebhookSecrets | Mapping[str, Any] | None,
    *,
    now: datetime | None = None,
) -> list[Alert]:
    """Authenticate (when `secrets` is given) and normalize one webhook request.

    Raises `AuthenticationError` (401) or `MalformedRequest` naming the field (400); returns `[]` for a
    request that carries no alert. `now` enables the freshness check of signed timestamps.
    """
    source = source if type(source) is Source else Source(source)
    lowered = lower_headers(headers)
    if secrets is not None:
        verify_webhook(source, lowered, raw_body_bytes, secrets, now=now)
    alerts = NORMALIZERS[source](lowered, parse_json_object(raw_body_bytes))
    size = len(raw_body_bytes)
    # A title is built from the body (plus a short prefix), and rawPayload is part of the body.
    if size > SAFE_BODY_BYTES or (size > TITLE_LIMIT // 2 and any(len(a.title) > TITLE_LIMIT for a in alerts)):
        return [_bounded(alert) for alert in alerts]
    return alerts


def _bounded(alert: Alert) -> Alert:
    """The alert with its title and rawPayload within the limits a queue message and a stored item need."""
    title, payload = clip(alert.title, TITLE_LIMIT), raw_payload(alert.rawPayload)
    if title is alert.title and payload is alert.rawPayload:
        return alert
    return alert.model_copy(update={"title": title, "rawPayload": payload})


__all__ = ["NORMALIZERS", "SourceParser", "normalize"]
