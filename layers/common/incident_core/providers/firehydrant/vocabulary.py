"""The organisation's own FireHydrant vocabulary: its severities (most severe first), priorities, lifecycle
milestones in order, teams and users, each read or checked once and kept in the container's lookups.

Why: slugs and milestones are the organisation's (custom milestones, its own severity matrix); the secret
maps ours onto them, and a slug or milestone the organisation does not have is a clear configuration error
at first use, naming the setting and the secret, instead of FireHydrant's refusal of a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import RootModel, ValidationError

from incident_core.errors import ConfigurationError, NotFound
from incident_core.models.alert import Severity
from incident_core.providers.answers import fetch
from incident_core.providers.firehydrant.credentials import Credentials
from incident_core.providers.firehydrant.models import DEFAULT_MILESTONES, Phases, Ref, UsersPage
from incident_core.providers.http import VendorHttp
from incident_core.providers.lookups import Lookups

SEPARATOR = ","


class _Listed(RootModel[UsersPage | list[Ref] | Ref]):
    """`GET /v1/priorities` is described as one bare entity; live answers list them: both are read."""

    @property
    def items(self) -> list[Ref]:
        found = self.root
        return found.data if isinstance(found, UsersPage) else found if isinstance(found, list) else [found]


@dataclass
class Vocabulary:
    credentials: Credentials
    http: VendorHttp
    lookups: Lookups

    def _key(self, kind: str, value: str) -> tuple[str, ...]:
        return (
            "firehydrant",
            self.credentials.api_base_url,
            self.credentials.botToken.get_secret_value()[-6:],
            kind,
            value,
        )

    def severity(self, severity: Severity) -> str:
        return self._checked("severities", severity, self.credentials.severities[severity])

    def priority(self, severity: Severity) -> str:
        return self._checked("priorities", severity, self.credentials.priorities[severity])

    def severity_ladder(self) -> list[str]:
        """The organisation's severity slugs, most severe first."""
        return self._listing("severities").split(SEPARATOR)

    def milestones(self) -> list[str]:
        """The organisation's milestone slugs in lifecycle order."""

        def load() -> str | None:
            phases = fetch(self.http, Phases, "GET", "/v1/lifecycles/phases").data
            ordered = [
                m.slug
                for phase in sorted(phases, key=lambda p: p.position)
                for m in sorted(phase.milestones, key=lambda m: m.position)
                if m.slug
            ]
            return SEPARATOR.join(ordered or DEFAULT_MILESTONES)

        order = (self.lookups.get(self._key("milestones", "order"), load) or "").split(SEPARATOR)
        for setting in ("acknowledgedMilestone", "resolvedMilestone"):
            if getattr(self.credentials, setting) not in order:
                raise ConfigurationError(
                    f"{setting} in {self.http.credentials_in} is {getattr(self.credentials, setting)!r}, which is "
                    f"not a milestone of this FireHydrant organisation; it has: {', '.join(order)}"
                )
        return order

    def team_id(self, name: str) -> str:
        """A team by the name Port uses: mapped in the secret's teamIds, else found by name."""
        mapped = self.credentials.teamIds.get(name)
        if mapped:
            return mapped

        def load() -> str | None:
            teams = fetch(self.http, UsersPage, "GET", "/v1/teams", params={"name": name}).data
            return next((t.id for t in teams if (t.name or "").casefold() == name.casefold() and t.id), None)

        found = self.lookups.get(self._key("team", name.casefold()), load)
        if found is None:
            raise NotFound(f"FireHydrant has no team named {name}; name one of its teams, or map it in teamIds")
        return found

    def user_id(self, person: str) -> str:
        mapped = self.credentials.userIds.get(person)
        if mapped:
            return mapped
        field = "email" if "@" in person else "name"

        def load() -> str | None:
            users = fetch(self.http, UsersPage, "GET", "/v1/users", params={"query": person}).data
            wanted = person.casefold()
            return next((u.id for u in users if (getattr(u, field) or "").casefold() == wanted and u.id), None)

        found = self.lookups.get(self._key("user", person.casefold()), load)
        if found is None:
            raise NotFound(
                f"FireHydrant has no user with the {field} {person}; invite them, or map them in the secret's userIds"
            )
        return found

    def _listing(self, kind: str) -> str:
        """The slugs of `kind` (severities, priorities), most severe first, read once."""

        def load() -> str | None:
            try:
                listed = _Listed.model_validate(self.http.json("GET", f"/v1/{kind}", params={"per_page": 100})).items
            except ValidationError:
                return None
            return SEPARATOR.join(r.slug for r in sorted(listed, key=lambda r: r.position) if r.slug) or None

        return self.lookups.get(self._key(kind, "listed"), load) or ""

    def _checked(self, kind: str, severity: Severity, slug: str) -> str:
        listed = self._listing(kind).split(SEPARATOR)
        if listed == [""] or slug in listed:  # an organisation whose list cannot be read is taken at its word
            return slug
        raise ConfigurationError(
            f"{kind}.{severity.value} in {self.http.credentials_in} is {slug!r}, which is not one of this "
            f"FireHydrant organisation's {kind}; it has: {', '.join(listed)}"
        )
