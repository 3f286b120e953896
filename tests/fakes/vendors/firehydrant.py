"""A FireHydrant organisation: incidents with their tags, milestone, severity, impacted services, team and
role assignments and timeline notes; its users, teams and vocabulary; `PUT /resolve` refusing an incident
that is no longer active, and milestones that only move forward, as FireHydrant's do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.vendors import answer, body_of

MILESTONES = ["started", "detected", "acknowledged", "investigating", "mitigated", "resolved", "closed"]
USERS = {"u-ana": "ana@example.com", "u-bo": "bo@example.com"}
COMMANDER = "role-commander"


def _refused(detail: str) -> httpx.Response:
    return answer({"detail": detail, "messages": [detail], "code": "unprocessable"}, 422)


@dataclass
class FakeFireHydrant:
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method, params = request.url.path, request.method, request.url.params
        vocabulary = {
            "/v1/severities": {"data": [{"slug": f"SEV{n}", "position": n} for n in range(1, 5)]},
            "/v1/priorities": {"data": [{"slug": f"P{n}", "position": n} for n in range(1, 5)]},
            "/v1/lifecycles/phases": {
                "data": [{"position": 1, "milestones": [{"slug": m, "position": i} for i, m in enumerate(MILESTONES)]}]
            },
            "/v1/teams": {"data": [{"id": "team-db", "name": "Database"}]},
        }
        if method == "GET" and path in vocabulary:
            return answer(vocabulary[path])
        if path == "/v1/users":
            return answer({"data": [{"id": i, "email": e} for i, e in USERS.items() if e == params["query"]]})
        if path == "/v1/incidents" and method == "GET":
            tag = params["tags"]
            return answer({"data": [self._shown(i) for i in self.incidents.values() if tag in i["tag_list"]]})
        if path == "/v1/incidents" and method == "POST":
            return self._create(body_of(request))
        found = re.fullmatch(r"/v1/incidents/([\w-]+)(/.*)?", path)
        incident = self.incidents.get(found.group(1)) if found else None
        if incident is None:
            return answer({"detail": "Not found"}, 404)
        return self._on(request, incident, (found.group(2) or "") if found else "")

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        incident_id = f"fh-{len(self.incidents) + 1}"
        self.incidents[incident_id] = {
            "id": incident_id,
            "number": len(self.incidents) + 1,
            "tag_list": list(body.get("tag_list", [])),
            "severity": body["severity"],
            "milestone": "started",
            "impacts": [],
            "teams": [],
            "roles": [],
            "notes": [],
        }
        return answer(self._shown(self.incidents[incident_id]), 201)

    def _on(self, request: httpx.Request, incident: dict[str, Any], rest: str) -> httpx.Response:
        method = request.method
        if rest == "" and method == "GET":
            return answer(self._shown(incident))
        if rest == "" and method == "PATCH":
            incident["severity"] = body_of(request)["severity"]
            return answer(self._shown(incident))
        if rest == "/impact" and method == "PATCH":
            body = body_of(request)
            if MILESTONES.index(body["milestone"]) < MILESTONES.index(incident["milestone"]):
                return _refused("Milestones must stay in order")
            incident["milestone"] = body["milestone"]
            incident["notes"].append(body.get("note", ""))
            return answer(self._shown(incident))
        if rest == "/impact/services":
            incident["impacts"].append(body_of(request)["id"])
            return answer({"id": f"impact-{len(incident['impacts'])}"}, 201)
        if rest == "/notes":
            incident["notes"].append(body_of(request)["body"])
            return answer({"id": f"note-{len(incident['notes'])}"}, 201)
        if rest == "/events":
            return answer({"data": [{"type": "bulk_update", "data": {"note": {"body": n}}} for n in incident["notes"]]})
        if rest == "/resolve":
            if MILESTONES.index(incident["milestone"]) >= MILESTONES.index("resolved"):
                return _refused("Incident is not active")
            incident["milestone"] = body_of(request)["milestone"]
            return answer(self._shown(incident))
        if rest == "/team_assignments":
            incident["teams"].append(body_of(request)["team_id"])
            return answer({}, 201)
        if rest == "/role_assignments" and method == "POST":
            body = body_of(request)
            incident["roles"].append({"id": f"ra-{len(incident['roles']) + 1}", **body, "status": "active"})
            return answer({}, 201)
        if rest == "/role_assignments":
            return answer({"data": [self._assignment(r) for r in incident["roles"] if r["status"] == "active"]})
        if found := re.fullmatch(r"/role_assignments/([\w-]+)", rest):
            for role in incident["roles"]:
                if role["id"] == found.group(1):
                    role["status"] = "inactive"
            return answer({})
        return answer({"detail": f"no route {method} {request.url.path}"}, 404)

    def _assignment(self, role: dict[str, Any]) -> dict[str, Any]:
        user_id = role["user_id"]
        return {
            "id": role["id"],
            "status": role["status"],
            "incident_role": {"id": role["incident_role_id"], "name": "Commander"},
            "user": {"id": user_id, "email": USERS.get(user_id), "name": user_id},
        }

    def _shown(self, incident: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": incident["id"],
            "number": incident["number"],
            "incident_url": f"https://app.firehydrant.io/incidents/{incident['id']}",
            "current_milestone": incident["milestone"],
            "active": MILESTONES.index(incident["milestone"]) < MILESTONES.index("resolved"),
            "severity": incident["severity"],
            "tag_list": incident["tag_list"],
            "impacts": [{"impact": {"id": service}} for service in incident["impacts"]],
            "team_assignments": [{"status": "active", "team": {"id": team}} for team in incident["teams"]],
            "role_assignments": [self._assignment(r) for r in incident["roles"] if r["status"] == "active"],
        }
