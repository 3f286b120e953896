"""Jira Cloud's answers and webhook payloads as far as the adapter reads them, and its status categories."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from incident_core.models.incident import IncidentStatus
from incident_core.providers.answers import VendorModel

STATUS_OF_CATEGORY: dict[str, IncidentStatus] = {
    "new": IncidentStatus.TRIGGERED,
    "indeterminate": IncidentStatus.ACKNOWLEDGED,
    "done": IncidentStatus.RESOLVED,
}
"""Jira's status category keys (every workflow status has one) → our status."""


class StatusCategory(VendorModel):
    key: str | None = None


class Status(VendorModel):
    name: str | None = None
    statusCategory: StatusCategory | None = None

    @property
    def category(self) -> str | None:
        return self.statusCategory.key if self.statusCategory else None


class User(VendorModel):
    accountId: str | None = None
    emailAddress: str | None = None
    """Hidden (null) unless the user lets the site show it."""
    displayName: str | None = None

    @property
    def label(self) -> str | None:
        return self.emailAddress or self.displayName or self.accountId


class Users(RootModel[list[User]]):
    pass


class IssueFields(VendorModel):
    status: Status | None = None
    assignee: User | None = None


class IncidentProperty(VendorModel):
    """The issue property set at create, which says which Port incident the issue is for."""

    incident: str | None = None


class Issue(VendorModel):
    id: str | None = None
    key: str | None = None
    fields: IssueFields = Field(default_factory=IssueFields)
    properties: dict[str, IncidentProperty] = Field(default_factory=dict)


class CreatedIssue(VendorModel):
    id: str | None = None
    key: str = Field(min_length=1)


class SearchPage(VendorModel):
    issues: list[Issue] = Field(default_factory=list)


class Transition(VendorModel):
    id: str | None = None
    name: str | None = None
    to: Status | None = None
    isAvailable: bool | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    """The transition screen's fields, by field id (asked for with `expand=transitions.fields`)."""

    def describe(self) -> str:
        target = self.to.name if self.to else None
        return f"'{self.name}'" + (f" (to {target})" if target else "")


class Transitions(VendorModel):
    transitions: list[Transition] = Field(default_factory=list)


class Comment(VendorModel):
    body: Any = None
    """Atlassian Document Format, or a string in some webhook versions."""
    author: User | None = None


class Comments(VendorModel):
    comments: list[Comment] = Field(default_factory=list)


class Priority(VendorModel):
    id: str | None = None
    name: str | None = None


class Priorities(VendorModel):
    values: list[Priority] = Field(default_factory=list)


class ErrorCollection(VendorModel):
    errorMessages: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)


# The admin webhook


class ChangeItem(VendorModel):
    field: str | None = None


class Changelog(VendorModel):
    items: list[ChangeItem] = Field(default_factory=list)


class WebhookIssue(VendorModel):
    key: str | None = None
    fields: IssueFields = Field(default_factory=IssueFields)


class WebhookPayload(VendorModel):
    webhookEvent: str | None = None
    timestamp: int | None = None
    user: User | None = None
    issue: WebhookIssue | None = None
    comment: Comment | None = None
    changelog: Changelog | None = None
