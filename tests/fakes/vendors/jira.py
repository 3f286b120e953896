"""A Jira Cloud site: one project's issues with their labels, property, status, assignee, priority and
comments; people whose email Jira hides; a search that lags new issues (as Jira's index does); and the
admin webhook payloads the site would send, with the acting account as `user`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.vendors import answer, body_of

API = "/rest/api/3"
BOT = {"accountId": "712020:bot", "displayName": "Port", "email": "incident-bot@example.com", "shows": True}
PEOPLE = [
    BOT,
    {"accountId": "712020:ana", "displayName": "Ana Lopez", "email": "ana@example.com", "shows": True},
    {"accountId": "712020:bo", "displayName": "Bo Builder", "email": "bo@example.com", "shows": False},
]
"""Bo hides his email, as most people do: a search by it finds him, but no answer shows it."""
STATUSES = {
    "To Do": "new",
    "In Progress": "indeterminate",
    "Done": "done",
}
TRANSITIONS = {"11": ("Start Progress", "In Progress"), "31": ("Done", "Done")}
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]


def _status(name: str) -> dict[str, Any]:
    return {"name": name, "statusCategory": {"key": STATUSES[name]}}


@dataclass
class FakeJira:
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    search_lag: int = 2
    """How many searches pass before a new issue shows up in search results."""
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == f"{API}/myself":
            return answer(_shown(BOT))
        if path == f"{API}/user/search":
            query = request.url.params["query"].casefold()
            return answer([_shown(p) for p in PEOPLE if p["email"].startswith(query)])
        if path == f"{API}/user":
            person = next((p for p in PEOPLE if p["accountId"] == request.url.params["accountId"]), None)
            return answer(_shown(person)) if person else answer({"errorMessages": ["User does not exist"]}, 404)
        if path == f"{API}/priority/search":
            return answer({"values": [{"id": str(i), "name": name} for i, name in enumerate(PRIORITIES)]})
        if path == f"{API}/search/jql":
            return self._search(request)
        if path == f"{API}/issue" and method == "POST":
            return self._create(request)
        found = re.fullmatch(rf"{API}/issue/([A-Z]+-\d+)(/\w+)?", path)
        issue = self.issues.get(found.group(1)) if found else None
        if issue is None:
            return answer({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404)
        return self._on_issue(request, issue, (found.group(2) or "") if found else "")

    def _search(self, request: httpx.Request) -> httpx.Response:
        wanted = re.search(r'labels = "([^"]+)"', request.url.params["jql"])
        hits = []
        for issue in self.issues.values():
            issue["searches"] += 1
            if issue["searches"] > self.search_lag and wanted and wanted.group(1) in issue["labels"]:
                hits.append(issue)
        asked = request.url.params.get("fields")
        shown = [{"id": i["id"], **({"key": i["key"], "properties": i["properties"]} if asked else {})} for i in hits]
        return answer({"issues": shown, "isLast": True})

    def _create(self, request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        key = f"OPS-{len(self.issues) + 1}"
        self.issues[key] = {
            "id": str(10000 + len(self.issues)),
            "key": key,
            "labels": list(body["fields"]["labels"]),
            "priority": body["fields"]["priority"]["name"],
            "properties": {p["key"]: p["value"] for p in body.get("properties", [])},
            "status": "To Do",
            "assignee": None,
            "comments": [],
            "searches": 0,
        }
        return answer({"id": self.issues[key]["id"], "key": key}, 201)

    def _on_issue(self, request: httpx.Request, issue: dict[str, Any], rest: str) -> httpx.Response:
        method = request.method
        if rest == "" and method == "GET":
            assignee = next((p for p in PEOPLE if p["accountId"] == issue["assignee"]), None)
            fields = {"status": _status(issue["status"]), "assignee": _shown(assignee) if assignee else None}
            return answer({"id": issue["id"], "key": issue["key"], "fields": fields})
        if rest == "" and method == "PUT":
            body = body_of(request)
            if "priority" in body.get("fields", {}):
                issue["priority"] = body["fields"]["priority"]["name"]
            for change in body.get("update", {}).get("labels", []):
                issue["labels"] = list(dict.fromkeys([*issue["labels"], change["add"]]))
            return httpx.Response(204)
        if rest == "/assignee":
            issue["assignee"] = body_of(request)["accountId"]
            self._announce(issue, "assignee")
            return httpx.Response(204)
        if rest == "/transitions" and method == "GET":
            offered = [
                {"id": tid, "name": name, "to": _status(target)}
                for tid, (name, target) in TRANSITIONS.items()
                if target != issue["status"]
            ]
            return answer({"transitions": offered})
        if rest == "/transitions":
            transition = TRANSITIONS.get(body_of(request)["transition"]["id"])
            if transition is None or transition[1] == issue["status"]:
                return answer(
                    {"errorMessages": ["It seems that you have tried to perform an illegal workflow operation."]}, 400
                )
            issue["status"] = transition[1]
            self._announce(issue, "status")
            return httpx.Response(204)
        if rest == "/comment" and method == "GET":
            return answer({"comments": [{"body": c} for c in issue["comments"]], "total": len(issue["comments"])})
        if rest == "/comment":
            issue["comments"].append(body_of(request)["body"])
            self.webhooks.append(
                {
                    "webhookEvent": "comment_created",
                    "issue": {"key": issue["key"]},
                    "comment": {"body": issue["comments"][-1], "author": _shown(BOT)},
                    "user": _shown(BOT),
                }
            )
            return answer({"id": str(len(issue["comments"]))}, 201)
        return answer({"errorMessages": [f"no route {method} {request.url.path}"]}, 404)

    def _announce(self, issue: dict[str, Any], changed: str) -> None:
        assignee = next((p for p in PEOPLE if p["accountId"] == issue["assignee"]), None)
        fields = {"status": _status(issue["status"]), "assignee": _shown(assignee) if assignee else None}
        self.webhooks.append(
            {
                "webhookEvent": "jira:issue_updated",
                "timestamp": 1_795_775_400_000,
                "user": _shown(BOT),
                "issue": {"key": issue["key"], "fields": fields},
                "changelog": {"items": [{"field": changed}]},
            }
        )


def _shown(person: dict[str, Any] | None) -> dict[str, Any]:
    """A person as Jira shows them to others: no email when they hide it."""
    assert person is not None
    shown = {"accountId": person["accountId"], "displayName": person["displayName"]}
    return shown | ({"emailAddress": person["email"]} if person["shows"] else {})
