"""An incident.io organisation: incidents with their status, lead and affected services, escalations by
idempotency key, its people, statuses and catalog; the edits its API allows (within a category; triage or
Active to post-incident or closed; post-incident to closed), and the webhooks it would send."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.vendors import answer, body_of

STATUSES = [
    {"id": "01STATUSTRIAGE", "name": "Triage", "category": "triage", "rank": 0},
    {"id": "01STATUSINVESTIGATING", "name": "Investigating", "category": "live", "rank": 1},
    {"id": "01STATUSFIXING", "name": "Fixing", "category": "live", "rank": 2},
    {"id": "01STATUSCLOSED", "name": "Closed", "category": "closed", "rank": 9},
]
SEVERITIES = [{"id": "01SEVCRITICAL", "name": "Critical", "rank": 3}, {"id": "01SEVMINOR", "name": "Minor", "rank": 1}]
ROLES = [{"id": "01ROLELEAD", "name": "Incident Lead", "role_type": "lead"}]
PEOPLE = {"01USERANA": "ana@example.com", "01USERBO": "bo@example.com"}
CATALOG = {"checkout": "01ENTRYCHECKOUT", "payments": "01ENTRYPAYMENTS"}
ALLOWED = {("triage", "triage"), ("live", "live"), ("triage", "closed"), ("live", "closed"), ("triage", "learning")}


def _status(status_id: str) -> dict[str, Any]:
    return next(s for s in STATUSES if s["id"] == status_id)


@dataclass
class FakeIncidentIo:
    starts_active: bool = False
    """Incidents of a type that does not force triage start in an Active status."""
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalations: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        lists = {
            "/v1/incident_statuses": {"incident_statuses": STATUSES},
            "/v1/severities": {"severities": SEVERITIES},
            "/v2/incident_roles": {"incident_roles": ROLES},
            "/v2/custom_fields/01FIELDSERVICES": {"custom_field": {"id": "01FIELDSERVICES", "catalog_type_id": "01T"}},
        }
        if request.method == "GET" and path in lists:
            return answer(lists[path])
        if path == "/v2/users":
            found = [{"id": i, "email": e} for i, e in PEOPLE.items() if e == params["email"].casefold()]
            return answer({"users": found})
        if path == "/v3/catalog_entries":
            entry = CATALOG.get(params["identifier"])
            return answer({"catalog_entries": [{"id": entry}] if entry else []})
        if path == "/v2/incidents" and request.method == "POST":
            return self._create(body_of(request))
        if path == "/v2/escalations":
            body = body_of(request)
            escalation = self.escalations.setdefault(
                body["idempotency_key"], {"id": f"01ESC{len(self.escalations)}", **body}
            )
            return answer({"escalation": escalation}, 201)
        if found := re.fullmatch(r"/v2/incidents/(\w+)(/actions/edit)?", path):
            incident = self.incidents.get(found.group(1))
            if incident is None:
                return answer({"type": "not_found", "status": 404, "errors": [{"message": "Not found"}]}, 404)
            return (
                self._edit(incident, body_of(request))
                if found.group(2)
                else answer({"incident": self._shown(incident)})
            )
        return answer({"type": "not_found", "status": 404, "errors": [{"message": "Not found"}]}, 404)

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        existing = next((i for i in self.incidents.values() if i["key"] == body["idempotency_key"]), None)
        if existing is not None:  # the idempotency key returns the incident it opened
            return answer({"incident": self._shown(existing)})
        incident_id = f"01INC{len(self.incidents) + 1}"
        self.incidents[incident_id] = {
            "id": incident_id,
            "key": body["idempotency_key"],
            "reference": f"INC-{len(self.incidents) + 1}",
            "status": "01STATUSINVESTIGATING" if self.starts_active else "01STATUSTRIAGE",
            "lead": None,
            "services": [
                v["value_catalog_entry_id"] for e in body.get("custom_field_entries", []) for v in e["values"]
            ],
        }
        return answer({"incident": self._shown(self.incidents[incident_id])})

    def _edit(self, incident: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        changes = body["incident"]
        if "incident_status_id" in changes:
            before, after = _status(incident["status"]), _status(changes["incident_status_id"])
            if (before["category"], after["category"]) not in ALLOWED:
                error = {"message": f"cannot move from {before['category']} to {after['category']}"}
                return answer({"type": "validation_error", "status": 422, "errors": [error]}, 422)
            incident["status"] = after["id"]
            if before["id"] != after["id"]:
                self._announce_status(incident, before)
        for assignment in changes.get("incident_role_assignments", []):
            incident["lead"] = assignment["assignee"]["id"]
        for entry in changes.get("custom_field_entries", []):
            incident["services"] = [value["value_catalog_entry_id"] for value in entry["values"]]
        self.webhooks.append(
            {
                "event_type": "public_incident.incident_updated_v2",
                "public_incident.incident_updated_v2": self._shown(incident),
            }
        )
        return answer({"incident": self._shown(incident)})

    def _announce_status(self, incident: dict[str, Any], before: dict[str, Any]) -> None:
        change = {
            "incident": self._shown(incident),
            "previous_status": before,
            "new_status": _status(incident["status"]),
        }
        self.webhooks.append(
            {
                "event_type": "public_incident.incident_status_updated_v2",
                "public_incident.incident_status_updated_v2": change,
            }
        )

    def _shown(self, incident: dict[str, Any]) -> dict[str, Any]:
        lead = incident["lead"]
        roles = [{"role": ROLES[0], "assignee": {"id": lead, "email": PEOPLE[lead]}}] if lead else []
        return {
            "id": incident["id"],
            "reference": incident["reference"],
            "permalink": f"https://app.incident.io/acme/incidents/{incident['reference']}",
            "incident_status": _status(incident["status"]),
            "severity": SEVERITIES[0],
            "incident_role_assignments": roles,
            "updated_at": "2026-11-27T10:00:00Z",
        }

    def accept(self, incident_id: str) -> None:
        """Someone accepts the incident out of triage in incident.io's own app."""
        incident = self.incidents[incident_id]
        before = _status(incident["status"])
        incident["status"] = "01STATUSINVESTIGATING"
        self._announce_status(incident, before)
