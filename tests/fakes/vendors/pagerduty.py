"""A PagerDuty account: users, one escalation policy, incidents with their notes, and the webhook events
PagerDuty would send for each change (with the acting user as `agent`, as v3 webhooks do)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.vendors import answer, body_of

SERVICE_ID = "PSERVICE"
POLICY_ID = "PPOLICY"
BOT = {"id": "PBOT", "name": "Incident Bot", "email": "incident-bot@example.com"}
PEOPLE = [
    BOT,
    {"id": "PANA", "name": "Ana Lopez", "email": "ana@example.com"},
    {"id": "PBO", "name": "Bo Builder", "email": "bo@example.com"},
    {"id": "PCY", "name": "Cy Chief", "email": "cy@example.com"},
]
LEVELS = [["PANA"], ["PBO"], ["PCY"]]
"""The escalation policy's rules: who is on call at each level."""
PRIORITIES = [{"id": "PP1", "name": "P1"}, {"id": "PP2", "name": "P2"}]


def _error(status: int, message: str, code: int, *details: str) -> httpx.Response:
    return answer({"error": {"message": message, "code": code, "errors": list(details)}}, status)


@dataclass
class FakePagerDuty:
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    """The v3 webhook payloads PagerDuty would deliver for what happened, in order."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/incidents" and method == "POST":
            return self._create(request)
        if path == "/incidents" and method == "GET":
            key = request.url.params.get("incident_key")
            return answer({"incidents": [i for i in self.incidents.values() if i["incident_key"] == key]})
        if found := re.fullmatch(r"/incidents/(\w+)/notes", path):
            return self._notes(request, found.group(1))
        if found := re.fullmatch(r"/incidents/(\w+)", path):
            incident = self.incidents.get(found.group(1))
            if incident is None:
                return _error(404, "Not Found", 2100)
            if method == "GET":
                return answer({"incident": self._expanded(incident)})
            return self._update(request, incident)
        if path == "/users":
            query = request.url.params.get("query", "").casefold()
            return answer(
                {"users": [p for p in PEOPLE if p["email"].startswith(query) or query in p["name"].casefold()]}
            )
        if found := re.fullmatch(r"/users/(\w+)", path):
            user = self._user(found.group(1))
            return answer({"user": user}) if user else _error(404, "Not Found", 2100)
        if path == "/oncalls":
            oncalls = [
                {"escalation_level": level, "user": {"id": user_id, "type": "user_reference"}}
                for level, rule in enumerate(LEVELS, start=1)
                for user_id in rule
            ]
            return answer({"oncalls": oncalls})
        if path == "/priorities":
            return answer({"priorities": PRIORITIES})
        return _error(404, "Not Found", 2100)

    # Incidents

    def _create(self, request: httpx.Request) -> httpx.Response:
        requester = self._requester(request)
        if requester is None:
            return _error(400, "Invalid Input Provided", 2001, "Requester User Not Found")
        fields = body_of(request)["incident"]
        key = fields["incident_key"]
        if any(i["incident_key"] == key and i["status"] != "resolved" for i in self.incidents.values()):
            return _error(
                400,
                "Arguments Caused Error",
                2002,
                "Open incident with matching dedup key already exists on this service",
            )
        incident_id = f"PINC{len(self.incidents) + 1}"
        incident = {
            "id": incident_id,
            "type": "incident",
            "incident_number": len(self.incidents) + 1,
            "title": fields["title"],
            "status": "triggered",
            "incident_key": key,
            "urgency": fields["urgency"],
            "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
            "service": {"id": SERVICE_ID, "type": "service_reference"},
            "escalation_policy": {"id": POLICY_ID, "type": "escalation_policy_reference"},
            "escalation_level": 1,
            "assigned": list(LEVELS[0]),
        }
        self.incidents[incident_id] = incident
        self.notes[incident_id] = []
        self._announce("incident.triggered", incident, requester)
        return answer({"incident": self._expanded(incident)}, 201)

    def _update(self, request: httpx.Request, incident: dict[str, Any]) -> httpx.Response:
        requester = self._requester(request)
        if requester is None:
            return _error(400, "Invalid Input Provided", 2001, "Requester User Not Found")
        fields = body_of(request)["incident"]
        status = fields.get("status")
        if status is not None:
            if incident["status"] == "resolved":
                return _error(400, "Incident Already Resolved", 1001)
            if incident["status"] == status:
                return _error(400, f"Incident Already {status.title()}", 1002)
            incident["status"] = status
            if status == "acknowledged":  # acknowledging through REST assigns the incident to the From user
                incident["assigned"] = [requester["id"]]
            self._announce(f"incident.{status}", incident, requester)
        if "escalation_level" in fields:
            level = max(1, min(int(fields["escalation_level"]), len(LEVELS)))
            incident.update(escalation_level=level, assigned=list(LEVELS[level - 1]), status="triggered")
            self._announce("incident.escalated", incident, requester)
        if "assignments" in fields:
            incident["assigned"] = [a["assignee"]["id"] for a in fields["assignments"]]
            incident["status"] = "triggered"
            self._announce("incident.reassigned", incident, requester)
        return answer({"incident": self._expanded(incident)})

    def _notes(self, request: httpx.Request, incident_id: str) -> httpx.Response:
        if incident_id not in self.incidents:
            return _error(404, "Not Found", 2100)
        if request.method == "GET":
            return answer({"notes": self.notes[incident_id]})
        requester = self._requester(request)
        if requester is None:
            return _error(400, "Invalid Input Provided", 2001, "Requester User Not Found")
        content = body_of(request)["note"]["content"]
        note = {"id": f"PNOTE{sum(map(len, self.notes.values())) + 1}", "content": content, "user": _ref(requester)}
        self.notes[incident_id].append(note)
        self.webhooks.append(
            _event(
                "incident.annotated",
                {"id": note["id"], "content": content, "incident": {"id": incident_id}, "type": "incident_note"},
                requester,
            )
        )
        return answer({"note": note}, 201)

    # Reading

    def _expanded(self, incident: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in incident.items() if k not in {"assigned", "escalation_level"}}
        users = [u for u in (self._user(i) for i in incident["assigned"]) if u]
        shown["assignments"] = [{"assignee": {**user, "type": "user"}} for user in users]
        return shown

    def _user(self, user_id: str) -> dict[str, Any] | None:
        return next((p for p in PEOPLE if p["id"] == user_id), None)

    def _requester(self, request: httpx.Request) -> dict[str, Any] | None:
        sender = request.headers.get("from", "").casefold()
        return next((p for p in PEOPLE if p["email"] == sender), None)

    def _announce(self, event_type: str, incident: dict[str, Any], agent: dict[str, Any]) -> None:
        data = {
            "id": incident["id"],
            "type": "incident",
            "status": incident["status"],
            "assignees": [_ref(u) for u in (self._user(i) for i in incident["assigned"]) if u],
        }
        self.webhooks.append(_event(event_type, data, agent))

    # What the tests read

    def status(self, incident_id: str) -> str:
        return str(self.incidents[incident_id]["status"])

    def level(self, incident_id: str) -> int:
        return int(self.incidents[incident_id]["escalation_level"])


def _ref(user: dict[str, Any]) -> dict[str, Any]:
    """A user as v3 webhooks name them: id and name (`summary`), no email."""
    return {"id": user["id"], "type": "user_reference", "summary": user["name"]}


def _event(event_type: str, data: dict[str, Any], agent: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": {
            "id": f"evt-{event_type}-{data['id']}",
            "event_type": event_type,
            "resource_type": event_type.split(".")[0],
            "occurred_at": "2026-11-27T10:00:00Z",
            "agent": _ref(agent),
            "data": data,
        }
    }
