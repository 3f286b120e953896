"""Incident tools behind one interface, registered by name.

`PROVIDERS` maps each `ProviderName` to a factory; a provider not registered here is refused with a
sentence the Port run shows, never imported by string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from incident_core.errors import ConfigurationError, Unsupported
from incident_core.models.incident import ProviderName
from incident_core.providers import firehydrant, incidentio, jira, opsgenie, pagerduty, servicenow
from incident_core.providers.base import InboundWebhook, IncidentProvider
from incident_core.providers.native import NativeProvider, Notifier


def _no_credentials(provider: ProviderName) -> Mapping[str, Any]:
    raise ConfigurationError(f"no credentials are available for {provider.value}")


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need, built lazily by the caller.

    `credentials(name)` reads that provider's secret (raising `ConfigurationError` when it is not set up);
    `transport` replaces the network in contract tests (prism's validating mock).
    """

    notifier: Callable[[], Notifier]
    link: Callable[[str], str | None]
    credentials: Callable[[ProviderName], Mapping[str, Any]] = field(default=_no_credentials)
    transport: httpx.BaseTransport | None = None


ProviderFactory = Callable[[ProviderContext], IncidentProvider]

PROVIDERS: dict[ProviderName, ProviderFactory] = {
    ProviderName.NATIVE: lambda context: NativeProvider(context.notifier(), context.link),
    ProviderName.PAGERDUTY: pagerduty.build,
    ProviderName.OPSGENIE: opsgenie.build,
    ProviderName.SERVICENOW: servicenow.build,
    ProviderName.JIRA: jira.build,
    ProviderName.INCIDENTIO: incidentio.build,
    ProviderName.FIREHYDRANT: firehydrant.build,
}


WEBHOOKS: dict[ProviderName, InboundWebhook] = {
    ProviderName.PAGERDUTY: pagerduty.WEBHOOK,
    ProviderName.JIRA: jira.JiraWebhook(),
    ProviderName.INCIDENTIO: incidentio.WEBHOOK,
    ProviderName.FIREHYDRANT: firehydrant.WEBHOOK,
}
"""Providers that report changes made in their own app by signed webhooks (POST /providers/<name>/webhook)."""


def provider_for(name: ProviderName, context: ProviderContext) -> IncidentProvider:
    factory = PROVIDERS.get(name)
    if factory is None:
        raise Unsupported(f"The {name.value} provider is not available in this deployment yet; use native.")
    return factory(context)
