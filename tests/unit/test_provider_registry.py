"""Every provider is registered by name, and every vendor that sends webhooks has a route for them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devstack.template import load_template
from incident_core.models.incident import ProviderName
from incident_core.providers.base import IncidentProvider
from incident_core.providers.registry import PROVIDERS, WEBHOOKS, ProviderContext, provider_for


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


PROVIDERS_PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "incident_core" / "providers"
VENDOR_PACKAGES = sorted(p.name for p in PROVIDERS_PACKAGE.iterdir() if (p / "adapter.py").is_file())


def _imports(module: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_vendor_has_its_own_package() -> None:
    assert set(VENDOR_PACKAGES) == {name.value for name in ProviderName} - {ProviderName.NATIVE.value}


@pytest.mark.parametrize("module", sorted(PROVIDERS_PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_imports_run_one_way_from_the_registry_to_the_vendors_to_the_interface(module: Path) -> None:
    """Only the registry knows every vendor; a vendor knows the interface and its own package, never another's."""
    imported = _imports(module)
    if module.name != "registry.py":
        assert not any(name.startswith("incident_core.providers.registry") for name in imported)
    assert "TYPE_CHECKING" not in module.read_text()
    own = module.parent.name
    others = {f"incident_core.providers.{vendor}" for vendor in VENDOR_PACKAGES if vendor != own}
    if module.name != "registry.py":
        assert not any(name.startswith(tuple(others)) for name in imported)
