"""An Opsgenie account: alerts by alias with their notes, users, and writes that are processed a moment after
they are accepted (202, then `GET /v2/alerts/requests/{id}`), as Opsgenie processes them asynchronously."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.vendors import answer, body_of

USERS = frozenset({"ana@example.com", "bo@example.com"})


@dataclass
class FakeOpsgenie:
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By alias."""
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    unprocessed_reads: int = 1
    """How many reads of a request status answer 404 before it shows as processed."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if found := re.fullmatch(r"/v2/users/(.+)", path):
            known = found.group(1) in USERS
            return answer(
                {"data": {"username": found.group(1)}} if known else {"message": "No user"}, 200 if known else 404
            )
        if found := re.fullmatch(r"/v2/alerts/requests/(.+)", path):
            return self._request_status(found.group(1))
        if path == "/v2/alerts" and method == "POST":
            return self._accept(self._create(body_of(request)))
        if found := re.fullmatch(r"/v2/alerts/([^/]+)/notes", path):
            alert = self.alerts.get(found.group(1))
            if method == "GET":
                notes = alert["notes"] if alert else []
                return answer({"data": [{"note": note} for note in notes]})
        if found := re.fullmatch(r"/v2/alerts/([^/]+)/(\w+)", path):
            return self._accept(self._act(found.group(1), found.group(2), body_of(request)))
        if found := re.fullmatch(r"/v2/alerts/([^/]+)", path):
            alert = self.alerts.get(found.group(1))
            return answer({"data": alert}) if alert else answer({"message": "Alert does not exist"}, 404)
        return answer({"message": "Not found"}, 404)

    def _accept(self, outcome: dict[str, Any]) -> httpx.Response:
        request_id = f"req-{len(self.requests) + 1}"
        self.requests[request_id] = {**outcome, "reads": 0}
        return answer({"result": "Request will be processed", "requestId": request_id, "took": 0.01}, 202)

    def _request_status(self, request_id: str) -> httpx.Response:
        outcome = self.requests.get(request_id)
        if outcome is None or outcome["reads"] < self.unprocessed_reads:
            if outcome is not None:
                outcome["reads"] += 1
            return answer({"message": "Request not found. It might not be processed, yet."}, 404)
        return answer({"data": {k: v for k, v in outcome.items() if k != "reads"}})

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        alias = body["alias"]
        alert = self.alerts.get(alias)
        if alert is not None and alert["status"] == "open":
            alert["count"] += 1  # Opsgenie de-duplicates open alerts by alias
        else:
            alert = {
                "id": f"alert-{len(self.alerts) + 1}",
                "alias": alias,
                "message": body["message"],
                "priority": body["priority"],
                "status": "open",
                "acknowledged": False,
                "owner": "",
                "tags": list(body.get("tags", [])),
                "count": 1,
                "notes": [],
            }
            self.alerts[alias] = alert
        return {"isSuccess": True, "status": "Created alert", "alertId": alert["id"], "alias": alias}

    def _act(self, alias: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        alert = self.alerts.get(alias)
        if alert is None:
            return {"isSuccess": False, "status": "Alert does not exist", "alertId": ""}
        if action == "assign" and body["owner"]["username"] not in USERS:
            return {"isSuccess": False, "status": f"No user exists with username [{body['owner']['username']}]"}
        if action == "acknowledge":
            alert["acknowledged"] = True
        elif action == "close":
            alert["status"] = "closed"
        elif action == "assign":
            alert["owner"] = body["owner"]["username"]
        elif action == "tags":
            alert["tags"] = list(dict.fromkeys([*alert["tags"], *body["tags"]]))
        elif action == "escalate":
            alert["escalations"] = alert.get("escalations", 0) + 1
        if body.get("note"):
            alert["notes"].append(body["note"])
        return {"isSuccess": True, "status": f"{action} done", "alertId": alert["id"], "alias": alias}
