"""PagerDuty users, escalation policies and priorities by name, email or id, looked up once and kept.

Why here: webhooks name people by id and name, REST answers by reference, and Port by email; every step and
every webhook goes through these lookups so a person is always their email, and the same person is never
taken for a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from incident_core.errors import ConfigurationError, NotFound, ProviderApiError, StepRefused
from incident_core.models.alert import Severity
from incident_core.providers.answers import fetch
from incident_core.providers.context import is_email
from incident_core.providers.http import VendorHttp
from incident_core.providers.lookups import Lookups
from incident_core.providers.pagerduty.credentials import Credentials
from incident_core.providers.pagerduty.models import (
    EscalationPoliciesPage,
    PrioritiesPage,
    Reference,
    TeamsPage,
    UserAnswer,
    UsersPage,
)


@dataclass
class People:
    credentials: Credentials
    http: VendorHttp
    lookups: Lookups

    def _key(self, kind: str, value: str) -> tuple[str, ...]:
        return ("pagerduty", self.credentials.rest_base_url, self.credentials.serviceId, kind, value)

    def user_id(self, email: str) -> str | None:
        """The PagerDuty user with this email; None when the account has none."""

        def load() -> str | None:
            page = fetch(self.http, UsersPage, "GET", "/users", params={"query": email})
            found = next((u for u in page.users if (u.email or "").casefold() == email.casefold()), None)
            if found is not None:
                self.lookups.put(self._key("email", found.id), email.casefold())
            return found.id if found else None

        return self.lookups.get(self._key("user", email.casefold()), load) if is_email(email) else None

    def required_user(self, email: str) -> str:
        if not is_email(email):
            raise StepRefused(f"PagerDuty finds users by email; {email!r} is not one.")
        found = self.user_id(email)
        if found is None:
            raise NotFound(f"PagerDuty has no user with the email {email}.")
        return found

    def email_of(self, reference: Reference) -> str:
        """A person's email: from an expanded reference, else looked up by id; else their name."""
        return self.known_email(reference) or reference.label

    def known_email(self, reference: Reference) -> str | None:
        if reference.email:
            return reference.email.casefold()

        def load() -> str | None:
            try:
                user = fetch(self.http, UserAnswer, "GET", f"/users/{quote(reference.id, safe='')}").user
            except ProviderApiError as error:
                if error.status_code == 404:  # a bot user or a deleted one: no email to find
                    return None
                raise
            return user.email.casefold() if user.email else None

        return self.lookups.get(self._key("email", reference.id), load)

    def email_of_id(self, user_id: str) -> str | None:
        return self.known_email(Reference(id=user_id))

    def holders(self, references: list[Reference]) -> str | None:
        return ", ".join(self.email_of(reference) for reference in references) or None

    def writer(self, actor: str | None) -> str:
        """Who a write is sent `From`: the acting person when PagerDuty knows them, else the configured user."""
        if actor and self.user_id(actor) is not None:
            return actor
        return self.credentials.fromEmail

    def priority(self, severity: Severity) -> str | None:
        """The configured priority id for `severity`, checked once against the account's priorities."""
        wanted = self.credentials.priorityIds.get(severity)
        if not wanted:
            return None

        def load() -> str | None:
            listed = fetch(self.http, PrioritiesPage, "GET", "/priorities").priorities
            if any(p.id == wanted for p in listed):
                return wanted
            known = ", ".join(f"{p.shown} ({p.id})" for p in listed) or "none"
            raise ConfigurationError(
                f"priorityIds.{severity.value} in {self.http.credentials_in} is {wanted}, which is not a priority "
                f"of this PagerDuty account; it has: {known}"
            )

        return self.lookups.get(self._key("priority", wanted), load)

    def escalation_policy(self, name: str) -> Reference:
        """The escalation policy of that name (or id), else the only policy of the team of that name."""
        wanted = name.casefold()
        named = fetch(self.http, EscalationPoliciesPage, "GET", "/escalation_policies", params={"query": name})
        for policy in named.escalation_policies:
            if wanted in {(policy.name or "").casefold(), (policy.summary or "").casefold(), policy.id.casefold()}:
                return policy
        found = fetch(self.http, TeamsPage, "GET", "/teams", params={"query": name})
        teams = [t for t in found.teams if wanted in {(t.name or "").casefold(), (t.summary or "").casefold()}]
        if not teams:
            raise NotFound(f"PagerDuty has no escalation policy or team named {name}.")
        params = {"team_ids[]": teams[0].id}
        policies = fetch(self.http, EscalationPoliciesPage, "GET", "/escalation_policies", params=params)
        if len(policies.escalation_policies) == 1:
            return policies.escalation_policies[0]
        if not policies.escalation_policies:
            raise NotFound(f"PagerDuty team {name} has no escalation policy to hand the incident to.")
        names = ", ".join(policy.shown for policy in policies.escalation_policies)
        raise StepRefused(f"PagerDuty team {name} has several escalation policies ({names}); name one of them.")
