"""The organisation's own records in incident.io (severities, statuses, the lead role, users, escalation paths,
catalog entries), by id, each found or checked once and kept in the container's lookups.

Why: every one of them is addressed by an id that differs per organisation. Ids named in the secret are
checked on first use (a status id of the wrong category, a severity of another organisation) with an error
that names the setting and the secret; the rest are looked up by rank and category (`SEVERITY_POSITION`,
`CATEGORY_OF_STATUS`), by email, by name, or by the catalog's identifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from incident_core.errors import ConfigurationError, NotFound, ProviderApiError
from incident_core.models.alert import Severity
from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import fetch
from incident_core.providers.http import VendorHttp
from incident_core.providers.incidentio.credentials import Credentials
from incident_core.providers.incidentio.models import (
    RESOLVED_CATEGORIES,
    SEVERITY_POSITION,
    CatalogEntries,
    CustomFieldAnswer,
    EscalationPaths,
    Named,
    Roles,
    Severities,
    Statuses,
    UserAnswer,
    Users,
)
from incident_core.providers.lookups import Lookups

STATUS_SETTINGS: dict[IncidentStatus, tuple[str, tuple[str, ...]]] = {
    IncidentStatus.RESOLVED: ("resolvedStatusId", RESOLVED_CATEGORIES),
}
"""The secret's setting for the status a step moves to, and the categories that status may be in; the first
category is where the step goes when the secret names no status."""
PAGE_SIZE = 25
"""The most `GET /v2/escalation_paths` lists per page."""


@dataclass
class Records:
    credentials: Credentials
    http: VendorHttp
    lookups: Lookups

    def _key(self, kind: str, value: str) -> tuple[str, ...]:
        return ("incidentio", self.credentials.baseUrl, self.credentials.apiKey[-6:], kind, value)

    def severity_id(self, severity: Severity) -> str:
        configured = self.credentials.severityIds.get(severity)

        def load() -> str | None:
            listed = sorted(
                fetch(self.http, Severities, "GET", "/v1/severities").severities, key=lambda s: s.rank, reverse=True
            )
            if configured:
                if any(s.id == configured for s in listed):
                    return configured
                raise self._wrong(f"severityIds.{severity.value}", configured, "a severity", listed)
            if not listed:
                raise ConfigurationError(
                    f"incident.io lists no severities; set severityIds in {self.http.credentials_in}"
                )
            # One listing answers for every severity the secret leaves out.
            for other, position in SEVERITY_POSITION.items():
                chosen = listed[min(position, len(listed) - 1)].id
                if chosen and not self.credentials.severityIds.get(other):
                    self.lookups.put(self._key("severity", other.value), chosen)
            return listed[min(SEVERITY_POSITION[severity], len(listed) - 1)].id

        return self._kept("severity", severity.value, load)

    def status_id(self, status: IncidentStatus) -> str:
        setting, categories = STATUS_SETTINGS[status]
        configured: str | None = getattr(self.credentials, setting)

        def load() -> str | None:
            listed = fetch(self.http, Statuses, "GET", "/v1/incident_statuses").incident_statuses
            if configured:
                chosen = next((s for s in listed if s.id == configured), None)
                if chosen is not None and chosen.category in categories:
                    return configured
                raise self._wrong(setting, configured, f"a status in {' or '.join(categories)}", listed)
            matching = sorted((s for s in listed if s.category == categories[0]), key=lambda s: s.rank)
            if not matching:
                raise ConfigurationError(
                    f"incident.io lists no status in the {categories[0]} category; set {setting} in "
                    f"{self.http.credentials_in}"
                )
            return matching[0].id

        return self._kept("status", status.value, load)

    def lead_role_id(self) -> str:
        configured = self.credentials.leadRoleId

        def load() -> str | None:
            roles = fetch(self.http, Roles, "GET", "/v2/incident_roles").incident_roles
            leads = [role for role in roles if role.role_type == "lead"]
            if configured and not any(role.id == configured for role in leads):
                raise self._wrong("leadRoleId", configured, "the lead role", leads)
            if not leads:
                raise ConfigurationError(
                    f"incident.io lists no lead role; set leadRoleId in {self.http.credentials_in}"
                )
            return configured or leads[0].id

        return self._kept("role", "lead", load)

    def user_id(self, person: str) -> str | None:
        """An incident.io user id: an email is looked up, an id is checked; None when there is no such user."""

        def by_email() -> str | None:
            users = fetch(self.http, Users, "GET", "/v2/users", params={"email": person}).users
            return next((u.id for u in users if (u.email or "").casefold() == person.casefold()), None)

        def by_id() -> str | None:
            try:
                return fetch(self.http, UserAnswer, "GET", f"/v2/users/{quote(person, safe='')}").user.id
            except ProviderApiError as error:
                if error.status_code == 404:
                    return None
                raise

        return self.lookups.get(self._key("user", person.casefold()), by_email if "@" in person else by_id)

    def escalation_path_id(self, path: str) -> str:
        """An escalation path by its id or its name."""

        def load() -> str | None:
            after: str | None = None
            while True:
                params = {"page_size": PAGE_SIZE, **({"after": after} if after else {})}
                page = fetch(self.http, EscalationPaths, "GET", "/v2/escalation_paths", params=params)
                found = next((p.id for p in page.escalation_paths if path.casefold() in _names(p)), None)
                after = page.pagination_meta.after if page.pagination_meta else None
                if found or not after or not page.escalation_paths:
                    return found

        found = self.lookups.get(self._key("escalation-path", path.casefold()), load)
        if found is None:
            raise NotFound(f"incident.io has no escalation path named {path}; give its name or id.")
        return found

    def catalog_entry_id(self, field_id: str, service: str) -> str | None:
        """The catalog entry for a Port service, by the catalog's own identifiers (id, external id, alias, or
        name where the type uses names as identifiers); None when the catalog has no such entry."""
        catalog_type = self._kept("catalog-type", field_id, lambda: self._catalog_type(field_id))

        def load() -> str | None:
            params = {"catalog_type_id": catalog_type, "identifier": service, "page_size": 1}
            entries = fetch(self.http, CatalogEntries, "GET", "/v3/catalog_entries", params=params).catalog_entries
            return entries[0].id if entries else None

        return self.lookups.get(self._key("catalog-entry", f"{catalog_type}/{service}"), load)

    def _catalog_type(self, field_id: str) -> str | None:
        custom_field = fetch(self.http, CustomFieldAnswer, "GET", f"/v2/custom_fields/{quote(field_id, safe='')}")
        if custom_field.custom_field.catalog_type_id is None:
            raise ConfigurationError(
                f"servicesFieldId in {self.http.credentials_in} names custom field {field_id}, which is not "
                "backed by a catalog type; name the catalog-backed affected-services field"
            )
        return custom_field.custom_field.catalog_type_id

    def _kept(self, kind: str, value: str, load: Callable[[], str | None]) -> str:
        found = self.lookups.get(self._key(kind, value), load)
        if found is None:
            raise ProviderApiError(f"incident.io answered without the id of the {kind}", retryable=False)
        return found

    def _wrong(self, setting: str, configured: str, wanted: str, listed: list[Named]) -> ConfigurationError:
        known = ", ".join(f"{item.name} ({item.id})" for item in listed) or "none"
        return ConfigurationError(
            f"{setting} in {self.http.credentials_in} is {configured}, which is not {wanted} of this incident.io "
            f"organisation; it has: {known}"
        )


def _names(record: Named) -> set[str]:
    return {(record.id or "").casefold(), (record.name or "").casefold()}
