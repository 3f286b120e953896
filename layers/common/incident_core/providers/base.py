"""The interface every incident tool implements, and what a step hands back.

A provider performs the step in its own system (or, for `native`, notifies people itself); the lifecycle
use cases own the incident's state, its timeline, the store and Port. A step a tool cannot do raises
`Unsupported` with a sentence the Port run shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incident_core.errors import ConfigurationError
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.http import STEP_BUDGET_SECONDS, VendorHttp, default_error_message, vendor_client
from incident_core.providers.lookups import Lookups
from incident_core.validation import first_problem


class EscalationRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: int | None = None
    policy: str | None = None
    user: str | None = None


class ProviderResult(BaseModel):
    """What the provider did: a sentence for the run's log, and anything the incident should remember."""

    model_config = ConfigDict(frozen=True)

    message: str
    externalId: str | None = None
    url: str | None = None
    escalationLevel: int | None = None
    escalationPolicy: str | None = None
    assignee: str | None = None
    status: IncidentStatus | None = None
    """The incident's status after the step, when the provider decides it (otherwise the step's own)."""
    providerData: dict[str, Any] = Field(default_factory=dict)


class ProviderState(BaseModel):
    """The incident as the provider sees it (for reconciling)."""

    model_config = ConfigDict(frozen=True)

    status: IncidentStatus
    assignee: str | None = None
    url: str | None = None


class IncidentProvider(Protocol):
    name: ProviderName

    def trigger(self, incident: Incident, alerts: Sequence[AlertRecord]) -> ProviderResult: ...

    def acknowledge(self, incident: Incident, by: str) -> ProviderResult: ...

    def reassign(self, incident: Incident, assignee: str, by: str) -> ProviderResult: ...

    def associate_services(self, incident: Incident, services: Sequence[str], by: str) -> ProviderResult: ...

    def escalate(self, incident: Incident, request: EscalationRequest, by: str) -> ProviderResult: ...

    def add_note(self, incident: Incident, note: str, by: str) -> ProviderResult: ...

    def resolve(self, incident: Incident, resolution: str, by: str) -> ProviderResult: ...

    def get(self, incident: Incident) -> ProviderState: ...


class ProviderEvent(BaseModel):
    """A change someone made in the vendor's own app, as its webhook or API reports it."""

    model_config = ConfigDict(frozen=True)

    externalId: str
    """The vendor's id of the incident (what `trigger` returned as `externalId`)."""
    status: IncidentStatus | None = None
    assignee: str | None = None
    note: str | None = None
    actor: str
    """Who did it, as the vendor names them (an email where it has one)."""
    at: str | None = None
    actorId: str | None = None
    """The vendor's own id of who did it, for the adapter to resolve (see `SettlesEvents`)."""
    assigneeIds: tuple[str, ...] = ()
    """The vendor's own ids of who holds the incident now, for the adapter to resolve to emails."""


class InboundWebhook(Protocol):
    """A vendor's webhook: verify it over the raw body (fail closed), then read what changed."""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: datetime) -> None:
        """Raise `AuthenticationError` unless the request is signed with `secret`; `headers` are lower-case."""
        ...

    def events(self, payload: Any) -> list[ProviderEvent]:
        """The incident changes the payload reports; `[]` for events that change nothing we track."""
        ...


@runtime_checkable
class SettlesEvents(Protocol):
    """An adapter whose vendor's webhooks name people by the vendor's ids, and which writes as its own user."""

    def settle(self, event: ProviderEvent) -> ProviderEvent | None:
        """The event with people as emails (looked up, and kept); None when it reports a write of ours."""
        ...


def _no_link(identifier: str) -> str | None:
    return None


@dataclass(frozen=True)
class VendorSetup:
    """What a vendor adapter is built from: its secret, where the incident's page in Port is, and the network.

    `secret` is the provider's secret document; `transport` replaces the network in tests (prism's
    validating mock, or a stateful fake of the vendor).
    """

    secret: Mapping[str, Any]
    link: Callable[[str], str | None] = _no_link
    transport: httpx.BaseTransport | None = None
    lookups: Lookups = field(default_factory=Lookups)
    """Kept across steps: build every adapter of a container with the same one."""
    secret_name: str = "the provider's secret"  # noqa: S105 - a name for people, not a secret
    """Where the operator fixes the credentials, named in every refusal of them."""
    budget_seconds: float = STEP_BUDGET_SECONDS

    def http(
        self,
        vendor: str,
        base_url: str,
        headers: Mapping[str, str],
        error_message: Callable[[httpx.Response], str] = default_error_message,
        auth: httpx.Auth | None = None,
    ) -> VendorHttp:
        """The vendor's API for one step: its time budget, and refusals that name this secret."""
        return VendorHttp(
            vendor,
            vendor_client(base_url, headers, self.transport, auth=auth),
            error_message=error_message,
            credentials_in=self.secret_name,
            budget_seconds=self.budget_seconds,
        )


CredentialsModel = TypeVar("CredentialsModel", bound=BaseModel)


def parse_credentials(
    model: type[CredentialsModel], raw: Mapping[str, Any], provider: ProviderName, secret_name: str | None = None
) -> CredentialsModel:
    """The provider's secret as its adapter needs it; a missing or wrong field is the operator's to fix."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        where, problem = first_problem(exc, default="secret")
        fix = f" (fix it in {secret_name})" if secret_name else ""
        raise ConfigurationError(f"the {provider.value} credentials are incomplete: {where}: {problem}{fix}") from exc
