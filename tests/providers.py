"""A sample alert and incident for the provider tests; each test passes only the values it checks."""

from __future__ import annotations

from typing import Any

from incident_core.models.alert import AlertStatus, Severity, Source
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, ProviderName

SEEN_AT = "2026-11-27T10:00:00Z"


def sample_alert(**changes: Any) -> AlertRecord:
    """A firing Prometheus alert on checkout; `identifier` follows `externalId`, both seen times `statusReceivedAt`."""
    external_id = changes.get("externalId", "a1b2c3")
    received_at = changes.get("statusReceivedAt", SEEN_AT)
    fields: dict[str, Any] = {
        "source": Source.PROMETHEUS,
        "externalId": external_id,
        "identifier": f"prometheus-{external_id}",
        "title": "Checkout error rate above 5%",
        "description": "5xx ratio 7.2% over 5m on checkout-api",
        "severity": Severity.CRITICAL,
        "status": AlertStatus.OPEN,
        "statusReceivedAt": received_at,
        "firstSeenAt": received_at,
        "lastSeenAt": received_at,
        "service": "checkout",
    }
    return AlertRecord(**(fields | changes))


def sample_incident(provider: ProviderName, **changes: Any) -> Incident:
    """A critical checkout incident kept by `provider`, opened from `sample_alert()`."""
    fields: dict[str, Any] = {
        "identifier": "inc-20261127-100000-a1b2c3",
        "title": "Checkout error rate above 5%",
        "description": "5xx ratio 7.2% over 5m on checkout-api",
        "severity": Severity.CRITICAL,
        "provider": provider,
        "createdAt": SEEN_AT,
        "services": ("checkout",),
        "alerts": ("prometheus-a1b2c3",),
    }
    return Incident(**(fields | changes))
