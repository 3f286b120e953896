"""Every provider is registered by name, and every vendor that sends webhooks has a route for them."""

from __future__ import annotations

import pytest

from devstack.template import load_template
from incident_core.models.incident import ProviderName
from incident_core.providers import PROVIDERS, WEBHOOKS, ProviderContext, provider_for
from incident_core.providers.base import IncidentProvider


def test_every_provider_name_is_registered() -> None:
    assert set(PROVIDERS) == set(ProviderName)


@pytest.mark.parametrize("name", list(ProviderName))
def test_every_registered_provider_builds_with_its_credentials(name: ProviderName) -> None:
    minimal = {
        ProviderName.PAGERDUTY: {"apiKey": "k", "fromEmail": "ops@example.com", "serviceId": "PSERVICE"},
        ProviderName.OPSGENIE: {"apiKey": "k"},
        ProviderName.SERVICENOW: {"instanceUrl": "acme", "username": "u", "password": "p"},
        ProviderName.JIRA: {"siteUrl": "acme", "email": "ops@example.com", "apiToken": "t", "projectKey": "OPS"},
        ProviderName.INCIDENTIO: {"apiKey": "k"},
        ProviderName.FIREHYDRANT: {"botToken": "t"},
        ProviderName.NATIVE: {},
    }
    context = ProviderContext(pager=lambda: None, link=lambda _: None, credentials=lambda _: minimal[name])  # type: ignore[arg-type, return-value]
    provider: IncidentProvider = provider_for(name, context)
    assert provider.name is name


def test_every_webhook_sending_vendor_has_its_route() -> None:
    routes = {
        event["Properties"]["Path"]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "HttpApi"
    }
    assert {f"/providers/{name.value}/webhook" for name in WEBHOOKS} <= routes
    assert {r for r in routes if r.startswith("/providers/")} == {f"/providers/{n.value}/webhook" for n in WEBHOOKS}
