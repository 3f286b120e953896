"""Jira accounts by email and back, the account this adapter writes as, and the site's priorities; each looked
up once and kept in the container's lookups.

Why: Jira names people by account id and shows an email only when the person lets it (usually not), while
Port names them by email. The email -> account id answers of our own lookups are kept both ways, so a
webhook or a reconcile that names an account id we assigned reads back as the same email, not as a change.
"""

from __future__ import annotations

from dataclasses import dataclass

from incident_core.errors import ConfigurationError, NotFound, ProviderApiError, StepRefused
from incident_core.providers.answers import fetch
from incident_core.providers.http import VendorHttp
from incident_core.providers.jira.credentials import API, Credentials
from incident_core.providers.jira.models import Priorities, User, Users
from incident_core.providers.lookups import Lookups


@dataclass
class Accounts:
    credentials: Credentials
    http: VendorHttp
    lookups: Lookups

    def _key(self, kind: str, value: str) -> tuple[str, ...]:
        return ("jira", self.credentials.siteUrl, kind, value)

    def account_of(self, person: str) -> str:
        """The Jira account id of `person`: an email address (searched), or an account id (checked)."""
        if "@" not in person:
            if self.lookups.get(self._key("account", person), lambda: self._existing(person)) is None:
                raise NotFound(f"Jira has no account {person}; give the person's email or their Jira account id.")
            return person
        found = self.lookups.get(self._key("account-of", person.casefold()), lambda: self._search(person))
        if found is None:
            raise StepRefused(
                f"Jira has no user {person} that this account can see; check their access to the site, "
                "or give their Jira account id."
            )
        return found

    def email_of(self, account_id: str) -> str | None:
        """The email Port knows this account by: from our own lookups, else where Jira shows it."""

        def load() -> str | None:
            user = self._user(account_id)
            return user.emailAddress.casefold() if user and user.emailAddress else None

        return self.lookups.get(self._key("email-of", account_id), load)

    def label_of(self, user: User | None) -> str | None:
        """A person as Port names them: their email when known, else their name."""
        if user is None:
            return None
        email = user.emailAddress or (self.email_of(user.accountId) if user.accountId else None)
        return email or user.displayName or user.accountId

    def myself(self) -> str | None:
        """The account this adapter writes as: changes it made come back by webhook and are not news."""

        def load() -> str | None:
            return fetch(self.http, User, "GET", f"{API}/myself").accountId

        return self.lookups.get(self._key("myself", self.credentials.email), load)

    def check_priority(self, name: str, setting: str) -> None:
        """A configured priority name, checked once against the site's priorities."""

        def load() -> str | None:
            listed = fetch(self.http, Priorities, "GET", f"{API}/priority/search", params={"maxResults": 100})
            names = [priority.name for priority in listed.values if priority.name]
            if not names or name in names:
                return name
            raise ConfigurationError(
                f"{setting} in {self.http.credentials_in} is {name!r}, which is not a priority of this Jira site; "
                f"it has: {', '.join(names)}"
            )

        self.lookups.get(self._key("priority", name), load)

    def _search(self, email: str) -> str | None:
        found = fetch(self.http, Users, "GET", f"{API}/user/search", params={"query": email})
        users = [user for user in found.root if user.accountId]
        exact = [user for user in users if (user.emailAddress or "").casefold() == email.casefold()]
        matches = exact or (users if len(users) == 1 else [])
        if len(users) > 1 and len(matches) != 1:
            names = ", ".join(user.displayName or str(user.accountId) for user in users)
            raise StepRefused(
                f"Jira finds {len(users)} users for {email} ({names}) and shows none's email address; "
                "give the Jira account id of the right one."
            )
        if not matches or matches[0].accountId is None:
            return None
        account_id = matches[0].accountId
        self.lookups.put(self._key("email-of", account_id), email.casefold())
        return account_id

    def _existing(self, account_id: str) -> str | None:
        return account_id if self._user(account_id) is not None else None

    def _user(self, account_id: str) -> User | None:
        try:
            return fetch(self.http, User, "GET", f"{API}/user", params={"accountId": account_id})
        except ProviderApiError as error:
            if error.status_code == 404:
                return None
            raise
