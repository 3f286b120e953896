"""The PagerDuty adapter against a scripted PagerDuty (`httpx.MockTransport`): what each step sends, what it
makes of the answers, the retries, the credentials, and the v3 webhook's signature and events.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from incident_core.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedRequest,
    NotFound,
    ProviderApiError,
    StepRefused,
)
from incident_core.models.alert import Severity
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineEntry, TimelineKind
from incident_core.models.page import Pager
from incident_core.providers.base import EscalationRequest, ProviderEvent
from incident_core.providers.pagerduty.adapter import PagerDutyProvider, build
from incident_core.providers.pagerduty.models import STATUS_OF_PAGERDUTY, URGENCY_OF_SEVERITY
from incident_core.providers.pagerduty.webhook import WEBHOOK
from incident_core.providers.registry import ProviderContext
from incident_core.retry import RetryPolicy
from tests.fakes import FakeClock
from tests.providers import sample_alert, sample_incident

CREDENTIALS: dict[str, Any] = {"apiKey": "pd-key-123", "fromEmail": "incident-bot@example.com", "serviceId": "PWIXJZS"}
PORT_PAGE = "https://app.port.io/incidentEntity?identifier="
CREATED_AT = "2026-11-27T08:00:00Z"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


ACCOUNT_USERS = [
    {"id": "PXPGF42", "name": "Ana", "email": "ana@example.com"},
    {"id": "PBOT", "name": "Incident Bot", "email": "incident-bot@example.com"},
    {"id": "PBO", "name": "Bo Builder", "email": "bo@example.com"},
]
"""The account's people, as `GET /users` and `GET /users/{id}` answer unless a test scripts otherwise."""


@dataclass
class ScriptedPagerDuty:
    """Answers each (method, path) with the next scripted answer (the last one repeats); records requests.

    Unscripted, the account's users are listed and an incident has no notes yet.
    """

    answers: dict[tuple[str, str], list[Answer]]
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        queue = self.answers.get((request.method, path))
        if queue:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return answer(request) if callable(answer) else answer
        if (request.method, path) == ("GET", "/users"):
            return ok({"users": ACCOUNT_USERS})
        if request.method == "GET" and path.startswith("/users/"):
            user = next((u for u in ACCOUNT_USERS if u["id"] == path.removeprefix("/users/")), None)
            return ok({"user": user}) if user else pd_error(404, "Not Found", 2100)
        if request.method == "GET" and path.endswith("/notes"):
            return ok({"notes": []})
        return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})

    def writes(self) -> list[httpx.Request]:
        return [request for request in self.seen if request.method != "GET"]

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) if request.content else None for request in self.writes()]


def no_notifier() -> Pager:
    raise AssertionError("PagerDuty pages people itself; the adapter never uses the SNS notifier")


def context(
    pagerduty: ScriptedPagerDuty | None = None, credentials: Mapping[str, Any] = CREDENTIALS
) -> ProviderContext:
    return ProviderContext(
        pager=no_notifier,
        link=lambda identifier: PORT_PAGE + identifier,
        credentials=lambda name: credentials if name is ProviderName.PAGERDUTY else {},
        transport=httpx.MockTransport(pagerduty or ScriptedPagerDuty({})),
    )


def adapter(
    pagerduty: ScriptedPagerDuty, clock: FakeClock | None = None, credentials: Mapping[str, Any] | None = None
) -> PagerDutyProvider:
    clock = clock or FakeClock()
    built = build(context(pagerduty, CREDENTIALS | dict(credentials or {})).vendor(ProviderName.PAGERDUTY))
    policy = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, max_total_seconds=25.0, jitter=lambda cap: cap)
    return replace(built, http=replace(built.http, clock=clock, sleep=clock.sleep, retry=policy))


def pd_incident(
    status: str = "triggered", *, incident_id: str = "PT4KHLK", assignees: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    people = assignees if assignees is not None else [{"id": "PXPGF42", "type": "user_reference", "summary": "Ana"}]
    return {
        "id": incident_id,
        "type": "incident",
        "status": status,
        "incident_number": 1234,
        "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
        "incident_key": "prometheus-4f2a",
        "service": {"id": "PWIXJZS", "type": "service_reference", "summary": "Checkout"},
        "assignments": [{"at": CREATED_AT, "assignee": person} for person in people],
    }


def ok(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def pd_error(status: int, message: str, code: int, errors: list[str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "code": code, "errors": errors or []}})


def alert() -> AlertRecord:
    return sample_alert(
        externalId="4f2a",
        title="CheckoutErrorRate",
        description="5xx ratio above 20% for 5 minutes",
        startedAt="2026-11-27T07:55:00Z",
        rawPayload={"alert": {"generatorURL": "https://prometheus.example.com/graph?g0.expr=errors"}},
    )


def incident(**changes: Any) -> Incident:
    triggered = TimelineEntry(at=CREATED_AT, kind=TimelineKind.TRIGGERED, actor="ana@example.com", text="Triggered")
    fields = {
        "identifier": "inc-20261127-080000-a1b2c3",
        "title": "Checkout is failing",
        "description": "Customers cannot pay",
        "alerts": ("prometheus-4f2a",),
        "externalId": "PT4KHLK",
        "timeline": (triggered,),
    }
    return sample_incident(ProviderName.PAGERDUTY, **(fields | changes))


class TestMappingTables:
    def test_every_severity_has_a_pagerduty_urgency(self) -> None:
        assert URGENCY_OF_SEVERITY == {
            Severity.CRITICAL: "high",
            Severity.HIGH: "high",
            Severity.WARNING: "low",
            Severity.INFO: "low",
        }

    def test_every_pagerduty_status_maps_to_ours(self) -> None:
        assert STATUS_OF_PAGERDUTY == {
            "triggered": IncidentStatus.TRIGGERED,
            "acknowledged": IncidentStatus.ACKNOWLEDGED,
            "resolved": IncidentStatus.RESOLVED,
        }
        assert set(STATUS_OF_PAGERDUTY.values()) == set(IncidentStatus)


class TestTrigger:
    def test_opens_an_incident_keyed_by_our_incident_with_the_alert_context(self) -> None:
        pagerduty = ScriptedPagerDuty({("POST", "/incidents"): [ok({"incident": pd_incident()}, 201)]})

        result = adapter(pagerduty).trigger(incident(externalId=None), [alert()])

        (request,) = pagerduty.writes()
        assert str(request.url) == "https://api.pagerduty.com/incidents"
        assert request.headers["authorization"] == "Token token=pd-key-123"
        assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["from"] == "ana@example.com"
        sent = json.loads(request.content)["incident"]
        assert sent["type"] == "incident"
        assert sent["title"] == "Checkout is failing"
        assert sent["service"] == {"id": "PWIXJZS", "type": "service_reference"}
        assert sent["urgency"] == "high"
        assert sent["incident_key"] == "inc-20261127-080000-a1b2c3"
        assert "priority" not in sent
        assert sent["body"]["type"] == "incident_body"
        details = sent["body"]["details"]
        assert isinstance(details, str)
        for expected in (
            "Customers cannot pay",
            "Severity: critical (urgency high)",
            "Services: checkout",
            "Alert: CheckoutErrorRate",
            "Prometheus, severity critical, status open, since 2026-11-27T07:55:00Z",
            "Dedup key: prometheus-4f2a",
            "Service: checkout",
            "5xx ratio above 20% for 5 minutes",
            "Link: https://prometheus.example.com/graph?g0.expr=errors",
            f"Port incident inc-20261127-080000-a1b2c3: {PORT_PAGE}inc-20261127-080000-a1b2c3",
        ):
            assert expected in details

        assert result.externalId == "PT4KHLK"
        assert result.url == "https://acme.pagerduty.com/incidents/PT4KHLK"
        assert result.assignee == "ana@example.com"
        assert result.providerData == {
            "incidentId": "PT4KHLK",
            "incidentNumber": 1234,
            "incidentKey": "inc-20261127-080000-a1b2c3",
            "serviceId": "PWIXJZS",
        }
        assert result.message == "Opened PagerDuty incident #1234 (PT4KHLK) (high urgency)"

    def test_without_alerts_the_key_is_the_incident_and_automation_writes_as_the_configured_user(self) -> None:
        pagerduty = ScriptedPagerDuty({("POST", "/incidents"): [ok({"incident": pd_incident()}, 201)]})
        by_prometheus = (TimelineEntry(at=CREATED_AT, kind=TimelineKind.TRIGGERED, actor="prometheus", text="x"),)

        adapter(pagerduty).trigger(
            incident(alerts=(), severity=Severity.WARNING, timeline=by_prometheus, externalId=None), []
        )

        (request,) = pagerduty.writes()
        assert request.headers["from"] == "incident-bot@example.com"
        sent = json.loads(request.content)["incident"]
        assert sent["incident_key"] == "inc-20261127-080000-a1b2c3"
        assert sent["urgency"] == "low"

    def test_a_configured_priority_is_sent_for_the_severity(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("POST", "/incidents"): [ok({"incident": pd_incident()}, 201)],
                ("GET", "/priorities"): [ok({"priorities": [{"id": "P53ZZH5", "name": "P1"}]})],
            }
        )

        adapter(pagerduty, credentials={"priorityIds": {"critical": "P53ZZH5"}}).trigger(
            incident(externalId=None), [alert()]
        )

        assert pagerduty.bodies()[0]["incident"]["priority"] == {"id": "P53ZZH5", "type": "priority_reference"}

    def test_a_priority_the_account_does_not_have_is_named_with_the_secret_before_anything_is_opened(self) -> None:
        listed = {"priorities": [{"id": "PSLWBL8", "name": "P1"}, {"id": "PJ1P4W7", "name": "P2"}]}
        pagerduty = ScriptedPagerDuty({("GET", "/priorities"): [ok(listed)]})
        provider = adapter(pagerduty, credentials={"priorityIds": {"critical": "P53ZZH5"}})
        provider.http.credentials_in = "the secret incident-lifecycle/pagerduty"

        with pytest.raises(ConfigurationError) as raised:
            provider.trigger(incident(externalId=None), [alert()])

        assert raised.value.message == (
            "priorityIds.critical in the secret incident-lifecycle/pagerduty is P53ZZH5, which is not a priority "
            "of this PagerDuty account; it has: P1 (PSLWBL8), P2 (PJ1P4W7)"
        )
        assert pagerduty.writes() == []

    def test_a_retried_trigger_joins_the_incident_already_open_for_its_key(self) -> None:
        duplicate = pd_error(400, "Invalid Input Provided", 2001, ["Open incident with key already exists"])
        listed = {"incidents": [pd_incident("resolved", incident_id="POLD001"), pd_incident("acknowledged")]}
        pagerduty = ScriptedPagerDuty({("POST", "/incidents"): [duplicate], ("GET", "/incidents"): [ok(listed)]})

        result = adapter(pagerduty).trigger(incident(externalId=None), [alert()])

        (lookup,) = [r for r in pagerduty.seen if (r.method, r.url.path) == ("GET", "/incidents")]
        assert lookup.url.params["incident_key"] == "inc-20261127-080000-a1b2c3"
        assert lookup.url.params["service_ids[]"] == "PWIXJZS"
        assert lookup.url.params["date_range"] == "all"
        assert result.externalId == "PT4KHLK"
        assert result.message == (
            "PagerDuty incident #1234 (PT4KHLK) is already open for inc-20261127-080000-a1b2c3; linked to it"
        )

    def test_a_refusal_without_an_open_incident_for_the_key_is_the_vendors_error(self) -> None:
        refused = pd_error(400, "Invalid Input Provided", 2001, ["Title cannot be empty."])
        pagerduty = ScriptedPagerDuty(
            {("POST", "/incidents"): [refused], ("GET", "/incidents"): [ok({"incidents": []})]}
        )

        with pytest.raises(ProviderApiError) as raised:
            adapter(pagerduty).trigger(incident(externalId=None), [alert()])

        assert raised.value.message == (
            "PagerDuty answered 400: Invalid Input Provided: Title cannot be empty. (code 2001)"
        )
        assert raised.value.retryable is False


class TestStatusSteps:
    def test_acknowledge_puts_the_status_as_the_acting_user(self) -> None:
        pagerduty = ScriptedPagerDuty({("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("acknowledged")})]})

        result = adapter(pagerduty).acknowledge(incident(), "ana@example.com")

        (request,) = pagerduty.writes()
        assert request.headers["from"] == "ana@example.com"
        assert json.loads(request.content) == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
        assert result.message == "Acknowledged PagerDuty incident #1234 (PT4KHLK)"

    def test_an_actor_that_is_no_email_writes_as_the_configured_user(self) -> None:
        pagerduty = ScriptedPagerDuty({("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("acknowledged")})]})

        adapter(pagerduty).acknowledge(incident(), "system")

        assert pagerduty.writes()[0].headers["from"] == "incident-bot@example.com"

    def test_a_port_user_without_a_pagerduty_account_writes_as_the_configured_user(self) -> None:
        pagerduty = ScriptedPagerDuty({("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("acknowledged")})]})

        adapter(pagerduty).acknowledge(incident(), "zoe@example.com")

        assert pagerduty.writes()[0].headers["from"] == "incident-bot@example.com"

    def test_acknowledging_what_pagerduty_already_acknowledged_is_done(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("PUT", "/incidents/PT4KHLK"): [pd_error(400, "Already Acknowledged", 1002)],
                ("GET", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("acknowledged")})],
            }
        )

        result = adapter(pagerduty).acknowledge(incident(), "ana@example.com")

        assert result.message == "PagerDuty incident #1234 (PT4KHLK) was already acknowledged there"
        assert [r.method for r in pagerduty.seen if r.url.path.startswith("/incidents")] == ["PUT", "GET"]

    def test_acknowledging_an_incident_resolved_in_pagerduty_is_refused_with_a_reason(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("PUT", "/incidents/PT4KHLK"): [pd_error(400, "Incident Already Resolved", 1001)],
                ("GET", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("resolved")})],
            }
        )

        with pytest.raises(StepRefused, match=r"#1234 \(PT4KHLK\) is already resolved there; it cannot be ack"):
            adapter(pagerduty).acknowledge(incident(), "ana@example.com")

    def test_resolve_sends_the_resolution(self) -> None:
        pagerduty = ScriptedPagerDuty({("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("resolved")})]})

        result = adapter(pagerduty).resolve(incident(), "Rolled back release 42", "ana@example.com")

        assert pagerduty.bodies() == [
            {"incident": {"type": "incident_reference", "status": "resolved", "resolution": "Rolled back release 42"}}
        ]
        assert result.message == "Resolved PagerDuty incident #1234 (PT4KHLK)"

    def test_a_step_on_an_incident_never_opened_in_pagerduty_is_refused(self) -> None:
        pagerduty = ScriptedPagerDuty({})

        with pytest.raises(StepRefused, match="was never opened in PagerDuty"):
            adapter(pagerduty).resolve(incident(externalId=None), "done", "ana@example.com")
        assert pagerduty.seen == []

    def test_the_stored_provider_data_finds_the_incident_too(self) -> None:
        pagerduty = ScriptedPagerDuty({("PUT", "/incidents/PABC123"): [ok({"incident": pd_incident("resolved")})]})

        adapter(pagerduty).resolve(incident(externalId=None, providerData={"incidentId": "PABC123"}), "ok", "system")

        assert pagerduty.seen[0].url.path == "/incidents/PABC123"


USERS = {
    "users": [
        {"id": "PXPGF42", "name": "Bo Builder", "email": "Bo@Example.com"},
        {"id": "P2", "email": "x@y.z"},
        {"id": "PANA", "name": "Ana", "email": "ana@example.com"},
    ]
}
POLICY = {"id": "PT20YPA", "name": "Payments On-Call", "summary": "Payments On-Call"}


class TestReassignAndEscalate:
    def test_reassign_to_an_email_finds_the_user_and_assigns_them(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {("GET", "/users"): [ok(USERS)], ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})]}
        )

        result = adapter(pagerduty).reassign(incident(), "bo@example.com", "ana@example.com")

        assert pagerduty.seen[0].url.params["query"] == "bo@example.com"
        assert pagerduty.bodies()[0] == {
            "incident": {
                "type": "incident_reference",
                "assignments": [{"assignee": {"id": "PXPGF42", "type": "user_reference"}}],
            }
        }
        assert pagerduty.writes()[0].headers["from"] == "ana@example.com"
        assert result.assignee == "bo@example.com"
        assert result.message == "Reassigned PagerDuty incident PT4KHLK to bo@example.com"

    def test_reassign_to_an_unknown_email_says_pagerduty_has_no_such_user(self) -> None:
        pagerduty = ScriptedPagerDuty({("GET", "/users"): [ok({"users": [{"id": "P9", "email": "bob@example.com"}]})]})

        with pytest.raises(NotFound, match=r"PagerDuty has no user with the email bo@example\.com"):
            adapter(pagerduty).reassign(incident(), "bo@example.com", "ana@example.com")

    def test_reassign_to_a_name_hands_over_to_that_escalation_policy(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/escalation_policies"): [ok({"escalation_policies": [POLICY]})],
                ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident(assignees=[])})],
            }
        )

        result = adapter(pagerduty).reassign(incident(), "payments on-call", "ana@example.com")

        assert pagerduty.seen[0].url.params["query"] == "payments on-call"
        assert pagerduty.bodies()[0] == {
            "incident": {
                "type": "incident_reference",
                "escalation_policy": {"id": "PT20YPA", "type": "escalation_policy_reference"},
            }
        }
        assert result.assignee == "payments on-call"
        assert result.escalationPolicy == "Payments On-Call"

    def test_reassign_to_a_team_name_uses_the_teams_escalation_policy(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/escalation_policies"): [
                    ok({"escalation_policies": []}),
                    ok({"escalation_policies": [POLICY]}),
                ],
                ("GET", "/teams"): [ok({"teams": [{"id": "PQ9K7I8", "name": "Payments"}]})],
                ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
            }
        )

        result = adapter(pagerduty).reassign(incident(), "Payments", "ana@example.com")

        assert [(r.method, r.url.path, dict(r.url.params)) for r in pagerduty.seen[:3]] == [
            ("GET", "/escalation_policies", {"query": "Payments"}),
            ("GET", "/teams", {"query": "Payments"}),
            ("GET", "/escalation_policies", {"team_ids[]": "PQ9K7I8"}),
        ]
        assert pagerduty.bodies()[0]["incident"]["escalation_policy"]["id"] == "PT20YPA"
        assert result.assignee == "ana@example.com"

    def test_a_team_with_several_policies_asks_which_one(self) -> None:
        second = {"id": "PT20YPB", "name": "Payments Daytime"}
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/escalation_policies"): [
                    ok({"escalation_policies": []}),
                    ok({"escalation_policies": [POLICY, second]}),
                ],
                ("GET", "/teams"): [ok({"teams": [{"id": "PQ9K7I8", "name": "Payments"}]})],
            }
        )

        with pytest.raises(StepRefused, match=r"several escalation policies \(Payments On-Call, Payments Daytime\)"):
            adapter(pagerduty).reassign(incident(), "Payments", "ana@example.com")

    def test_an_unknown_name_is_neither_policy_nor_team(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {("GET", "/escalation_policies"): [ok({"escalation_policies": []})], ("GET", "/teams"): [ok({"teams": []})]}
        )

        with pytest.raises(NotFound, match="no escalation policy or team named Nobody"):
            adapter(pagerduty).reassign(incident(), "Nobody", "ana@example.com")

    def test_escalate_moves_to_the_next_level_and_notes_it_first(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
                ("GET", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
                ("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PN1"}}, 201)],
            }
        )

        result = adapter(pagerduty).escalate(incident(escalationLevel=2), EscalationRequest(), "ana@example.com")

        assert pagerduty.bodies() == [
            {
                "note": {
                    "content": "Escalated by ana@example.com in Port to level 3\n\n"
                    "[port:inc-20261127-080000-a1b2c3:escalated:1]"
                }
            },
            {"incident": {"type": "incident_reference", "escalation_level": 3}},
        ]
        assert (result.escalationLevel, result.assignee) == (3, "ana@example.com")
        assert result.message == "Escalated PagerDuty incident PT4KHLK to level 3; paging ana@example.com"

    def test_escalate_counts_from_the_level_pagerduty_reached_by_itself(self) -> None:
        paged = pd_incident(assignees=[{"id": "PBO", "type": "user_reference", "summary": "Bo Builder"}])
        paged["escalation_policy"] = {"id": "PPOLICY", "type": "escalation_policy_reference"}
        oncalls = {
            "oncalls": [
                {"escalation_level": 1, "user": {"id": "PXPGF42", "type": "user_reference"}},
                {"escalation_level": 2, "user": {"id": "PBO", "type": "user_reference"}},
            ]
        }
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/incidents/PT4KHLK"): [ok({"incident": paged})],
                ("GET", "/oncalls"): [ok(oncalls)],
                ("PUT", "/incidents/PT4KHLK"): [ok({"incident": paged})],
                ("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PN1"}}, 201)],
            }
        )

        # Port still says level 1; PagerDuty's own escalation rules already moved the incident to level 2.
        result = adapter(pagerduty).escalate(incident(escalationLevel=1), EscalationRequest(), "ana@example.com")

        (oncall_lookup,) = [r for r in pagerduty.seen if r.url.path == "/oncalls"]
        assert oncall_lookup.url.params["escalation_policy_ids[]"] == "PPOLICY"
        assert pagerduty.bodies()[-1] == {"incident": {"type": "incident_reference", "escalation_level": 3}}
        assert result.escalationLevel == 3

    def test_a_repeated_escalation_reads_its_level_back_instead_of_escalating_again(self) -> None:
        announced = {
            "content": "Escalated by ana@example.com in Port to level 3\n\n"
            "[port:inc-20261127-080000-a1b2c3:escalated:1]"
        }
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/incidents/PT4KHLK/notes"): [ok({"notes": [announced]})],
                ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
            }
        )

        result = adapter(pagerduty).escalate(incident(escalationLevel=2), EscalationRequest(), "ana@example.com")

        assert pagerduty.bodies() == [{"incident": {"type": "incident_reference", "escalation_level": 3}}]
        assert result.escalationLevel == 3

    def test_escalate_to_a_policy_and_level(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/escalation_policies"): [ok({"escalation_policies": [POLICY]})],
                ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
                ("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PN1"}}, 201)],
            }
        )

        result = adapter(pagerduty).escalate(
            incident(), EscalationRequest(policy="Payments On-Call", level=2), "ana@example.com"
        )

        assert pagerduty.bodies()[1:] == [
            {
                "incident": {
                    "type": "incident_reference",
                    "escalation_policy": {"id": "PT20YPA", "type": "escalation_policy_reference"},
                }
            },
            {"incident": {"type": "incident_reference", "escalation_level": 2}},
        ]
        assert (result.escalationPolicy, result.escalationLevel) == ("Payments On-Call", 2)

    def test_escalate_to_a_user(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {("GET", "/users"): [ok(USERS)], ("PUT", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})]}
        )

        result = adapter(pagerduty).escalate(incident(), EscalationRequest(user="bo@example.com"), "ana@example.com")

        assert pagerduty.bodies()[0]["incident"]["assignments"] == [
            {"assignee": {"id": "PXPGF42", "type": "user_reference"}}
        ]
        assert result.assignee == "bo@example.com"

    def test_escalate_to_a_user_and_a_policy_at_once_is_refused(self) -> None:
        with pytest.raises(StepRefused, match="to users or to an escalation policy, not both"):
            adapter(ScriptedPagerDuty({})).escalate(
                incident(), EscalationRequest(user="bo@example.com", policy="Payments"), "ana@example.com"
            )


class TestNotesAndServices:
    def test_add_note_posts_it_as_the_acting_user(self) -> None:
        pagerduty = ScriptedPagerDuty({("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PWL7QXS"}})]})

        result = adapter(pagerduty).add_note(incident(), "Rolled back", "ana@example.com")

        assert pagerduty.bodies() == [{"note": {"content": "Rolled back\n\n[port:inc-20261127-080000-a1b2c3:note:1]"}}]
        assert pagerduty.writes()[0].headers["from"] == "ana@example.com"
        assert result.message == "Added the note to PagerDuty incident PT4KHLK"

    def test_a_note_already_written_by_an_earlier_attempt_is_not_written_again(self) -> None:
        earlier = {"id": "PN1", "content": "Rolled back\n\n[port:inc-20261127-080000-a1b2c3:note:1]"}
        pagerduty = ScriptedPagerDuty({("GET", "/incidents/PT4KHLK/notes"): [ok({"notes": [earlier]})]})

        result = adapter(pagerduty).add_note(incident(), "Rolled back", "ana@example.com")

        assert pagerduty.writes() == []
        assert result.message == "The note was already on PagerDuty incident PT4KHLK"

    def test_a_note_whose_answer_was_lost_is_found_and_not_written_twice(self) -> None:
        written = {"id": "PN1", "content": "Rolled back\n\n[port:inc-20261127-080000-a1b2c3:note:1]"}
        pagerduty = ScriptedPagerDuty(
            {
                ("POST", "/incidents/PT4KHLK/notes"): [httpx.Response(504)],
                ("GET", "/incidents/PT4KHLK/notes"): [ok({"notes": []}), ok({"notes": [written]})],
            }
        )

        adapter(pagerduty).add_note(incident(), "Rolled back", "ana@example.com")

        assert len(pagerduty.writes()) == 1

    def test_a_note_by_automation_names_its_author(self) -> None:
        pagerduty = ScriptedPagerDuty({("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PWL7QXS"}})]})

        adapter(pagerduty).add_note(incident(), "Auto-remediation ran", "system")

        assert pagerduty.bodies() == [
            {"note": {"content": "system: Auto-remediation ran\n\n[port:inc-20261127-080000-a1b2c3:note:1]"}}
        ]
        assert pagerduty.writes()[0].headers["from"] == "incident-bot@example.com"

    def test_associating_services_notes_them_because_an_incident_has_one_service(self) -> None:
        pagerduty = ScriptedPagerDuty({("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PWL7QXS"}})]})

        result = adapter(pagerduty).associate_services(incident(), ["payments", "ledger"], "ana@example.com")

        assert pagerduty.bodies() == [
            {
                "note": {
                    "content": "Impacted services (associated in Port by ana@example.com): payments, ledger\n\n"
                    "[port:inc-20261127-080000-a1b2c3:services_associated:1]"
                }
            }
        ]
        assert result.message == (
            "A PagerDuty incident has one service; noted the impacted services on PT4KHLK: payments, ledger"
        )


class TestGet:
    def test_reads_status_assignee_email_and_page(self) -> None:
        expanded = [{"id": "PXPGF42", "type": "user", "name": "Ana", "email": "ana@example.com"}]
        pagerduty = ScriptedPagerDuty(
            {("GET", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("acknowledged", assignees=expanded)})]}
        )

        state = adapter(pagerduty).get(incident())

        assert pagerduty.seen[0].url.params["include[]"] == "assignees"
        assert state.status is IncidentStatus.ACKNOWLEDGED
        assert state.assignee == "ana@example.com"
        assert state.url == "https://acme.pagerduty.com/incidents/PT4KHLK"

    def test_an_answer_of_an_unexpected_shape_is_an_error_not_a_crash(self) -> None:
        pagerduty = ScriptedPagerDuty({("GET", "/incidents/PT4KHLK"): [ok({"incident": {"status": "triggered"}})]})

        with pytest.raises(ProviderApiError, match=r"unexpected shape: incident\.id: Field required"):
            adapter(pagerduty).get(incident())

    def test_an_unknown_status_is_an_error(self) -> None:
        pagerduty = ScriptedPagerDuty({("GET", "/incidents/PT4KHLK"): [ok({"incident": pd_incident("snoozed")})]})

        with pytest.raises(ProviderApiError, match="unknown status 'snoozed'"):
            adapter(pagerduty).get(incident())


class TestRetriesAndErrors:
    def test_a_429_waits_as_long_as_retry_after_says(self) -> None:
        clock = FakeClock()
        limited = pd_error(429, "Rate Limit Exceeded", 2020)
        limited.headers["Retry-After"] = "7"
        pagerduty = ScriptedPagerDuty(
            {("PUT", "/incidents/PT4KHLK"): [limited, ok({"incident": pd_incident("acknowledged")})]}
        )

        adapter(pagerduty, clock).acknowledge(incident(), "ana@example.com")

        assert clock.sleeps == [7.0]
        assert len(pagerduty.writes()) == 2

    def test_a_429_waits_for_pagerdutys_ratelimit_reset(self) -> None:
        clock = FakeClock()
        limited = httpx.Response(429, headers={"ratelimit-reset": "12"}, json={"error": {"message": "Rate Limit"}})
        pagerduty = ScriptedPagerDuty({("GET", "/incidents/PT4KHLK"): [limited, ok({"incident": pd_incident()})]})

        adapter(pagerduty, clock).get(incident())

        assert clock.sleeps == [12.0]

    def test_a_5xx_is_retried_then_succeeds(self) -> None:
        clock = FakeClock()
        pagerduty = ScriptedPagerDuty(
            {("POST", "/incidents/PT4KHLK/notes"): [httpx.Response(502), httpx.Response(503), ok({"note": {}})]}
        )

        adapter(pagerduty, clock).add_note(incident(), "x", "ana@example.com")

        # A note is sent once per attempt; before sending it again, the adapter looks whether it landed.
        assert clock.sleeps == [0.5, 1.0]
        assert len(pagerduty.writes()) == 3
        assert [r.method for r in pagerduty.seen if r.url.path.endswith("/notes")] == [
            "GET",
            "POST",
            "GET",
            "POST",
            "GET",
            "POST",
        ]

    def test_a_lasting_5xx_stops_at_the_attempt_bound(self) -> None:
        clock = FakeClock()
        pagerduty = ScriptedPagerDuty({("PUT", "/incidents/PT4KHLK"): [pd_error(500, "Internal Server Error", 0)]})

        with pytest.raises(ProviderApiError) as raised:
            adapter(pagerduty, clock).acknowledge(incident(), "ana@example.com")

        assert len(pagerduty.writes()) == 4
        assert clock.sleeps == [0.5, 1.0, 2.0]
        assert raised.value.retryable is True
        assert raised.value.message.startswith("PagerDuty answered 500 after 4 attempts over 3.5 s: Internal Server")

    def test_a_4xx_is_not_retried_and_carries_pagerdutys_message(self) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("PUT", "/incidents/PT4KHLK"): [pd_error(403, "Access Denied", 2010, ["Key is read-only"])],
                ("POST", "/incidents/PT4KHLK/notes"): [ok({"note": {"id": "PN1"}}, 201)],
            }
        )

        with pytest.raises(ProviderApiError) as raised:
            adapter(pagerduty).escalate(incident(), EscalationRequest(level=2), "ana@example.com")

        assert [r.method for r in pagerduty.seen if r.url.path == "/incidents/PT4KHLK"] == ["PUT"]
        assert raised.value.status_code == 403
        assert raised.value.message == "PagerDuty answered 403: Access Denied: Key is read-only (code 2010)"

    def test_field_errors_of_newer_endpoints_are_named(self) -> None:
        refused = httpx.Response(400, json={"error": {"message": "Invalid", "errors": {"title": ["is too long"]}}})
        pagerduty = ScriptedPagerDuty({("POST", "/incidents/PT4KHLK/notes"): [refused]})

        with pytest.raises(ProviderApiError, match=r"answered 400: Invalid: title: is too long$"):
            adapter(pagerduty).add_note(incident(), "x", "ana@example.com")


class TestCredentials:
    @pytest.mark.parametrize("missing", ["apiKey", "fromEmail", "serviceId"])
    def test_a_missing_key_is_named(self, missing: str) -> None:
        incomplete = {key: value for key, value in CREDENTIALS.items() if key != missing}

        with pytest.raises(ConfigurationError, match=f"the pagerduty credentials are incomplete: {missing}: "):
            build(context(credentials=incomplete).vendor(ProviderName.PAGERDUTY))

    @pytest.mark.parametrize(
        ("key", "value", "problem"),
        [
            ("fromEmail", "incident-bot", "must be the email of a PagerDuty user"),
            ("region", "apac", "region: Input should be 'us' or 'eu'"),
            ("baseUrl", "pagerduty.internal", "must be an http"),
            ("apiKey", "", "apiKey: String should have at least 1 character"),
        ],
    )
    def test_a_wrong_value_is_refused(self, key: str, value: str, problem: str) -> None:
        with pytest.raises(ConfigurationError, match=problem):
            build(context(credentials=CREDENTIALS | {key: value}).vendor(ProviderName.PAGERDUTY))

    @pytest.mark.parametrize(
        ("extra", "url"),
        [
            ({}, "https://api.pagerduty.com/incidents/PT4KHLK"),
            ({"region": "eu"}, "https://api.eu.pagerduty.com/incidents/PT4KHLK"),
            (
                {"region": "eu", "baseUrl": "https://pd-proxy.internal.example/pagerduty/"},
                "https://pd-proxy.internal.example/pagerduty/incidents/PT4KHLK",
            ),
        ],
    )
    def test_the_region_or_base_url_chooses_the_host(self, extra: dict[str, str], url: str) -> None:
        pagerduty = ScriptedPagerDuty(
            {
                ("GET", "/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
                ("GET", "/pagerduty/incidents/PT4KHLK"): [ok({"incident": pd_incident()})],
            }
        )

        adapter(pagerduty, credentials=extra).get(incident())

        assert str(pagerduty.seen[0].url).split("?")[0] == url


SECRET = "whsec-current"
OLD_SECRET = "whsec-previous"
NOW = datetime(2026, 11, 27, 8, 15, tzinfo=UTC)


def pd_user(user_id: str, name: str) -> dict[str, str]:
    return {
        "id": user_id,
        "type": "user_reference",
        "summary": name,
        "self": f"https://api.pagerduty.com/users/{user_id}",
        "html_url": f"https://acme.pagerduty.com/users/{user_id}",
    }


def webhook_incident(status: str, assignees: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "id": "PGR0VU2",
        "type": "incident",
        "self": "https://api.pagerduty.com/incidents/PGR0VU2",
        "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
        "number": 2,
        "status": status,
        "incident_key": "prometheus-4f2a",
        "created_at": "2026-11-27T08:00:00Z",
        "title": "Checkout is failing",
        "service": {"id": "PF9KMXH", "type": "service_reference", "summary": "Checkout"},
        "assignees": assignees,
        "escalation_policy": {"id": "PUS0KTE", "type": "escalation_policy_reference", "summary": "Default"},
        "urgency": "high",
        "resolve_reason": None,
    }


def webhook(event_type: str, data: dict[str, Any], agent: dict[str, str] | None, at: datetime = NOW) -> dict[str, Any]:
    return {
        "event": {
            "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
            "event_type": event_type,
            "resource_type": event_type.split(".")[0],
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "agent": agent,
            "client": {"name": "PagerDuty"},
            "data": data,
        }
    }


ANA = pd_user("PLH1HKV", "Ana Lopez")
BO = pd_user("PTUXL6G", "Bo Builder")
ACKNOWLEDGED = webhook("incident.acknowledged", webhook_incident("acknowledged", [ANA]), ANA)
RESOLVED = webhook("incident.resolved", webhook_incident("resolved", [ANA]), None)
REASSIGNED = webhook("incident.reassigned", webhook_incident("triggered", [BO]), ANA)
ANNOTATED = webhook(
    "incident.annotated",
    {
        "incident": {"id": "PGR0VU2", "type": "incident_reference", "summary": "Checkout is failing"},
        "id": "P2LA89X",
        "content": "Rolled back release 42",
        "trimmed": False,
        "type": "incident_note",
    },
    BO,
)


def signed(body: bytes, *secrets: str) -> dict[str, str]:
    signatures = [f"v1={hmac.new(s.encode(), body, hashlib.sha256).hexdigest()}" for s in secrets]
    return {"x-pagerduty-signature": ",".join(signatures)}


class TestWebhookSignature:
    BODY = json.dumps(ACKNOWLEDGED).encode()

    def test_a_genuine_signature_verifies(self) -> None:
        WEBHOOK.verify(signed(self.BODY, SECRET), self.BODY, SECRET, now=NOW)

    @pytest.mark.parametrize("order", [(OLD_SECRET, SECRET), (SECRET, OLD_SECRET)])
    def test_during_a_rotation_either_of_two_signatures_verifies(self, order: tuple[str, str]) -> None:
        headers = signed(self.BODY, *order)
        assert headers["x-pagerduty-signature"].count("v1=") == 2

        WEBHOOK.verify(headers, self.BODY, SECRET, now=NOW)
        WEBHOOK.verify(headers, self.BODY, OLD_SECRET, now=NOW)

    def test_a_signature_with_another_secret_is_refused(self) -> None:
        with pytest.raises(AuthenticationError, match="does not match the body"):
            WEBHOOK.verify(signed(self.BODY, "guessed"), self.BODY, SECRET, now=NOW)

    def test_a_tampered_body_is_refused(self) -> None:
        tampered = self.BODY.replace(b"acknowledged", b"resolved")

        with pytest.raises(AuthenticationError, match="does not match the body"):
            WEBHOOK.verify(signed(self.BODY, SECRET), tampered, SECRET, now=NOW)

    @pytest.mark.parametrize(
        "headers",
        [{}, {"x-pagerduty-signature": ""}, {"x-pagerduty-signature": "v0=abc, sha256=def"}],
    )
    def test_a_missing_signature_is_refused(self, headers: dict[str, str]) -> None:
        with pytest.raises(AuthenticationError, match="no PagerDuty v1 signature"):
            WEBHOOK.verify(headers, self.BODY, SECRET, now=NOW)

    def test_without_a_secret_everything_is_refused(self) -> None:
        with pytest.raises(AuthenticationError, match="no PagerDuty webhook secret is configured"):
            WEBHOOK.verify(signed(self.BODY, ""), self.BODY, "", now=NOW)

    def test_a_signed_event_from_long_ago_is_a_replay(self) -> None:
        old = json.dumps(webhook("incident.resolved", webhook_incident("resolved", []), None, NOW - timedelta(hours=2)))
        body = old.encode()

        with pytest.raises(AuthenticationError, match="replay refused"):
            WEBHOOK.verify(signed(body, SECRET), body, SECRET, now=NOW)
        WEBHOOK.verify(signed(body, SECRET), body, SECRET, now=NOW - timedelta(hours=1, minutes=30))

    @pytest.mark.parametrize("body", [b'{"event": "x"}', b"[1]", b"not json", b'{"event": {"occurred_at": 5}}'])
    def test_a_signed_body_without_a_readable_time_is_left_to_the_event_reader(self, body: bytes) -> None:
        WEBHOOK.verify(signed(body, SECRET), body, SECRET, now=NOW)

    def test_a_time_without_a_zone_is_read_as_utc(self) -> None:
        body = b'{"event": {"occurred_at": "2026-11-27T06:00:00"}}'

        with pytest.raises(AuthenticationError, match=r"occurred at 2026-11-27T06:00:00\+00:00"):
            WEBHOOK.verify(signed(body, SECRET), body, SECRET, now=NOW)


class TestWebhookEvents:
    def test_acknowledged(self) -> None:
        assert WEBHOOK.events(ACKNOWLEDGED) == [
            ProviderEvent(
                externalId="PGR0VU2",
                status=IncidentStatus.ACKNOWLEDGED,
                actor="Ana Lopez",
                at="2026-11-27T08:15:00Z",
                actorId="PLH1HKV",
            )
        ]

    def test_resolved_by_pagerduty_itself(self) -> None:
        assert WEBHOOK.events(RESOLVED) == [
            ProviderEvent(
                externalId="PGR0VU2", status=IncidentStatus.RESOLVED, actor="PagerDuty", at="2026-11-27T08:15:00Z"
            )
        ]

    def test_reassigned(self) -> None:
        assert WEBHOOK.events(REASSIGNED) == [
            ProviderEvent(
                externalId="PGR0VU2",
                status=IncidentStatus.TRIGGERED,
                assignee="Bo Builder",
                actor="Ana Lopez",
                at="2026-11-27T08:15:00Z",
                actorId="PLH1HKV",
                assigneeIds=("PTUXL6G",),
            )
        ]

    def test_annotated(self) -> None:
        assert WEBHOOK.events(ANNOTATED) == [
            ProviderEvent(
                externalId="PGR0VU2",
                note="Rolled back release 42",
                actor="Bo Builder",
                at="2026-11-27T08:15:00Z",
                actorId="PTUXL6G",
            )
        ]

    @pytest.mark.parametrize("event_type", ["incident.triggered", "incident.priority_updated", "service.updated"])
    def test_events_that_change_nothing_we_track_are_ignored(self, event_type: str) -> None:
        assert WEBHOOK.events(webhook(event_type, webhook_incident("triggered", []), ANA)) == []

    def test_a_tracked_event_without_its_incident_is_malformed(self) -> None:
        with pytest.raises(MalformedRequest, match=r"event\.data\.id"):
            WEBHOOK.events(webhook("incident.resolved", {"type": "incident", "status": "resolved"}, ANA))

    @pytest.mark.parametrize("payload", [{}, {"event": "x"}, [], "x"])
    def test_a_payload_without_an_event_is_malformed(self, payload: Any) -> None:
        with pytest.raises(MalformedRequest, match="one event object"):
            WEBHOOK.events(payload)

    def test_a_note_this_bundle_wrote_is_not_news(self) -> None:
        ours = copy.deepcopy(ANNOTATED)
        ours["event"]["data"]["content"] = "Rolled back release 42\n\n[port:inc-20261127-080000-a1b2c3:note:1]"

        assert WEBHOOK.events(ours) == []


class TestSettle:
    def test_people_become_emails_looked_up_once(self) -> None:
        pagerduty = ScriptedPagerDuty({})
        provider = adapter(pagerduty)
        event = ProviderEvent(
            externalId="PT4KHLK", assignee="Bo Builder", actor="Ana", actorId="PXPGF42", assigneeIds=("PBO",)
        )

        first = provider.settle(event)
        again = provider.settle(event)

        assert first == again
        assert first is not None
        assert (first.actor, first.assignee) == ("ana@example.com", "bo@example.com")
        assert sorted(r.url.path for r in pagerduty.seen) == ["/users/PBO", "/users/PXPGF42"]

    def test_a_change_made_as_the_configured_user_is_our_own(self) -> None:
        event = ProviderEvent(externalId="PT4KHLK", status=IncidentStatus.ACKNOWLEDGED, actor="Bot", actorId="PBOT")

        assert adapter(ScriptedPagerDuty({})).settle(event) is None

    def test_someone_pagerduty_has_no_email_for_keeps_their_name(self) -> None:
        event = ProviderEvent(externalId="PT4KHLK", assignee="Old Timer", actor="x", assigneeIds=("PGONE",))

        settled = adapter(ScriptedPagerDuty({})).settle(event)

        assert settled is not None
        assert settled.assignee == "Old Timer"
