"""The fake Port is as strict as Port: it refuses what Port refuses, so the bundle cannot pass by leniency."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.fakes import FakeClock
from tests.fakes.port import FAKE_PORT_URL, REPO_ROOT, FakePort

BUNDLE_BLUEPRINTS = [json.loads(p.read_text()) for p in sorted((REPO_ROOT / "port" / "blueprints").glob("*.json"))]
SERVICE = {"identifier": "service", "title": "Service", "schema": {"properties": {}}}
VALID_ALERT: dict[str, Any] = {
    "identifier": "prometheus-3f1c9a7e5b2d4c60",
    "title": "HighErrorRate",
    "properties": {
        "title": "HighErrorRate",
        "severity": "critical",
        "status": "open",
        "source": "prometheus",
        "externalId": "3f1c9a7e5b2d4c60",
        "startedAt": "2026-11-27T08:14:03.123Z",
        "endedAt": None,
        "rawPayload": {"labels": {}},
    },
    "relations": {"service": "checkout"},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakePort:
    fake = FakePort(clock=clock, blueprints=[SERVICE, *BUNDLE_BLUEPRINTS])
    fake.add_entity("service", {"identifier": "checkout", "title": "Checkout"})
    return fake


@pytest.fixture
def http(fake: FakePort) -> httpx.Client:
    client = httpx.Client(transport=fake.transport(), base_url=FAKE_PORT_URL)
    credentials = {"clientId": fake.client_id, "clientSecret": fake.client_secret}
    token = client.post("/v1/auth/access_token", json=credentials).json()["accessToken"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _write_alert(http: httpx.Client, entity: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/v1/blueprints/alert/entities/bulk", params={"upsert": "true"}, json={"entities": [entity]})
    return {"status": response.status_code, **response.json()}


def _alert_with(**properties: Any) -> dict[str, Any]:
    return {**VALID_ALERT, "properties": {**VALID_ALERT["properties"], **properties}}


def test_a_valid_alert_with_null_optional_properties_lands(http: httpx.Client, fake: FakePort) -> None:
    answer = _write_alert(http, VALID_ALERT)
    assert answer["status"] == 200
    assert answer["errors"] == []
    assert VALID_ALERT["identifier"] in fake.entities["alert"]


@pytest.mark.parametrize(
    ("entity", "reason"),
    [
        (_alert_with(startedAt=None), "'startedAt' is a required property"),
        (_alert_with(title=None), "'title' is a required property"),
        (_alert_with(startedAt="27/11/2026 08:14"), "is not a 'date-time'"),
        (_alert_with(startedAt="2026-11-27T08:14:03"), "is not a 'date-time'"),  # no offset
        (_alert_with(severity=3), "is not of type 'string'"),
        (_alert_with(runbook="https://runbooks.example"), "Additional properties are not allowed"),
        ({**VALID_ALERT, "relations": {"service": ["checkout", "payments"]}}, "takes one identifier"),
        ({**VALID_ALERT, "relations": {"owner": "checkout"}}, "relation 'owner' is not defined"),
    ],
)
def test_an_alert_port_would_refuse_is_refused_alone(
    http: httpx.Client, fake: FakePort, entity: dict[str, Any], reason: str
) -> None:
    other = {**VALID_ALERT, "identifier": "prometheus-a81e22c07d9e1b34"}
    response = http.post(
        "/v1/blueprints/alert/entities/bulk", params={"upsert": "true"}, json={"entities": [entity, other]}
    )
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["index"] == 0
    assert error["statusCode"] == 422
    assert reason in error["message"]
    assert set(fake.entities["alert"]) == {"prometheus-a81e22c07d9e1b34"}


def test_an_incident_outside_its_enums_is_refused(http: httpx.Client) -> None:
    incident = {"identifier": "inc-1", "title": "Down", "properties": {"title": "Down", "status": "active"}}
    response = http.post("/v1/blueprints/incident/entities", params={"upsert": "true"}, json=incident)
    assert response.status_code == 422
    assert "'active' is not one of" in response.json()["message"]


def test_a_related_entity_must_exist(http: httpx.Client) -> None:
    answer = _write_alert(http, {**VALID_ALERT, "relations": {"service": "no-such-service"}})
    assert answer["errors"][0]["statusCode"] == 404


def test_a_finished_run_refuses_another_status(http: httpx.Client, fake: FakePort) -> None:
    fake.add_run("r_1")
    assert http.patch("/v1/actions/runs/r_1", json={"status": "SUCCESS", "summary": "done"}).status_code == 200
    again = http.patch("/v1/actions/runs/r_1", json={"status": "FAILURE", "summary": "retried"})
    ending_log = http.post("/v1/actions/runs/r_1/logs", json={"message": "end", "terminationStatus": "FAILURE"})
    assert (again.status_code, again.json()["error"]) == (422, "run_already_finished")
    assert ending_log.status_code == 422
    assert fake.runs["r_1"]["status"] == "SUCCESS"
    assert fake.runs["r_1"]["summary"] == "done"
    assert http.post("/v1/actions/runs/r_1/logs", json={"message": "a note after the end"}).status_code == 201
    assert fake.violations == []


def test_a_rate_limit_answers_429_with_the_seconds_until_reset(
    http: httpx.Client, fake: FakePort, clock: FakeClock
) -> None:
    fake.rate_limit(30)
    first = http.get("/v1/blueprints/alert")
    clock.advance(12)
    second = http.get("/v1/blueprints/alert")
    clock.advance(18)
    after = http.get("/v1/blueprints/alert")
    assert (first.status_code, first.headers["x-ratelimit-reset"], first.headers["x-ratelimit-remaining"]) == (
        429,
        "30",
        "0",
    )
    assert (second.status_code, second.headers["x-ratelimit-reset"]) == (429, "18")
    assert after.status_code == 200


def test_5xx_on_demand(http: httpx.Client, fake: FakePort, clock: FakeClock) -> None:
    fake.fail_next(2, status=502)
    fake.outage(clock.now + 60, clock.now + 120)
    codes = [http.get("/v1/blueprints/alert").status_code for _ in range(3)]
    clock.advance(60)
    during = http.get("/v1/blueprints/alert").status_code
    clock.advance(60)
    assert codes == [502, 502, 200]
    assert during == 503
    assert http.get("/v1/blueprints/alert").status_code == 200
