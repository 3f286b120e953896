"""Every provider by name: a literal table, so a provider not listed here is refused, never imported by string.

`ProviderContext` is what the caller hands over once per container (built lazily where it may be unset: the
pager, the secrets); `provider_for` builds the adapter one step uses (its time budget starts with it), and
`WEBHOOKS` names the vendors that sign webhooks to this bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from incident_core.errors import ConfigurationError, Unsupported
from incident_core.models.incident import ProviderName
from incident_core.models.page import Pager
from incident_core.providers.base import InboundWebhook, IncidentProvider, VendorSetup
from incident_core.providers.firehydrant import adapter as firehydrant
from incident_core.providers.firehydrant import webhook as firehydrant_webhook
from incident_core.providers.incidentio import adapter as incidentio
from incident_core.providers.incidentio import webhook as incidentio_webhook
from incident_core.providers.jira import adapter as jira
from incident_core.providers.jira import webhook as jira_webhook
from incident_core.providers.lookups import Lookups
from incident_core.providers.native import NativeProvider
from incident_core.providers.opsgenie import adapter as opsgenie
from incident_core.providers.pagerduty import adapter as pagerduty
from incident_core.providers.pagerduty import webhook as pagerduty_webhook
from incident_core.providers.servicenow import adapter as servicenow


def _no_credentials(provider: ProviderName) -> Mapping[str, Any]:
    raise ConfigurationError(f"no credentials are available for {provider.value}")


def _secret_of(provider: ProviderName) -> str:
    return f"the {provider.value} secret"


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need, built lazily by the caller.

    `credentials(name)` reads that provider's secret (raising `ConfigurationError` when it is not set up) and
    `secret_name(name)` says where it lives; `transport` replaces the network in tests (prism's validating
    mock, a stateful fake of the vendor). Build one per container: its `lookups` are kept across steps.
    """

    pager: Callable[[], Pager]
    link: Callable[[str], str | None]
    credentials: Callable[[ProviderName], Mapping[str, Any]] = field(default=_no_credentials)
    transport: httpx.BaseTransport | None = None
    secret_name: Callable[[ProviderName], str] = field(default=_secret_of)
    lookups: Lookups = field(default_factory=Lookups)

    def vendor(self, name: ProviderName) -> VendorSetup:
        return VendorSetup(
            secret=self.credentials(name),
            link=self.link,
            transport=self.transport,
            lookups=self.lookups,
            secret_name=self.secret_name(name),
        )


ProviderFactory = Callable[[ProviderContext], IncidentProvider]

PROVIDERS: dict[ProviderName, ProviderFactory] = {
    ProviderName.NATIVE: lambda context: NativeProvider(context.pager(), context.link),
    ProviderName.PAGERDUTY: lambda context: pagerduty.build(context.vendor(ProviderName.PAGERDUTY)),
    ProviderName.OPSGENIE: lambda context: opsgenie.build(context.vendor(ProviderName.OPSGENIE)),
    ProviderName.SERVICENOW: lambda context: servicenow.build(context.vendor(ProviderName.SERVICENOW)),
    ProviderName.JIRA: lambda context: jira.build(context.vendor(ProviderName.JIRA)),
    ProviderName.INCIDENTIO: lambda context: incidentio.build(context.vendor(ProviderName.INCIDENTIO)),
    ProviderName.FIREHYDRANT: lambda context: firehydrant.build(context.vendor(ProviderName.FIREHYDRANT)),
}

WEBHOOKS: dict[ProviderName, InboundWebhook] = {
    ProviderName.PAGERDUTY: pagerduty_webhook.WEBHOOK,
    ProviderName.JIRA: jira_webhook.WEBHOOK,
    ProviderName.INCIDENTIO: incidentio_webhook.WEBHOOK,
    ProviderName.FIREHYDRANT: firehydrant_webhook.WEBHOOK,
}
"""Providers that report changes made in their own app by signed webhooks (POST /providers/<name>/webhook)."""


def provider_for(name: ProviderName, context: ProviderContext) -> IncidentProvider:
    factory = PROVIDERS.get(name)
    if factory is None:
        raise Unsupported(f"The {name.value} provider is not available in this deployment yet; use native.")
    return factory(context)
