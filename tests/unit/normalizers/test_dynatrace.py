"""Dynatrace rules (custom webhook integration) of ../shared/spec/alert-normalization.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models import AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from tests.events import example_secrets, webhook_event, webhook_event_names

PID = "-4417283048462618722_1795767240000V2"
V2_PID = "6823518823473690115_1795730700000V2"


def _template(v2: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **fields: Any) -> bytes:
    """The recommended template; `v2` updates its ProblemDetailsJSONv2, `fields` the flat placeholders."""
    payload: dict[str, Any] = {
        "State": "OPEN",
        "ProblemID": "P-26112718",
        "PID": PID,
        "ProblemTitle": "Response time degradation",
        "ProblemSeverity": "PERFORMANCE",
        "ProblemImpact": "SERVICE",
        "ProblemURL": f"https://abc12345.live.dynatrace.com/#problems/problemdetails;pid={PID}",
        "Tags": "team:payments",
        "ImpactedEntities": [],
        "ImpactedEntityNames": "checkout-service",
        "ProblemDetailsText": "Response time degradation",
        "ProblemDetailsJSONv2": {
            "problemId": PID,
            "displayId": "P-26112718",
            "title": "Response time degradation",
            "severityLevel": "PERFORMANCE",
            "status": "OPEN",
            "startTime": 1795767240000,
            "endTime": -1,
        },
    }
    payload["ProblemDetailsJSONv2"].update(v2 or {})
    payload.update(fields)
    for key in drop:
        payload.pop(key)
    return json.dumps(payload).encode()


def _v2_body(drop: tuple[str, ...] = (), **fields: Any) -> bytes:
    """A body that is itself a Problems API v2 object."""
    payload: dict[str, Any] = {
        "problemId": V2_PID,
        "displayId": "P-26112655",
        "title": "Multiple service failures",
        "severityLevel": "AVAILABILITY",
        "status": "OPEN",
        "startTime": 1795730700000,
        "endTime": -1,
    }
    payload.update(fields)
    for key in drop:
        payload.pop(key)
    return json.dumps(payload).encode()


def _one(body: bytes) -> Any:
    (alert,) = normalize(Source.DYNATRACE, {}, body, None)
    return alert


# --- samples --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", webhook_event_names("dynatrace"))
def test_every_sample_authenticates_with_the_example_token(name: str) -> None:
    headers, body = webhook_event("dynatrace", name)
    assert len(normalize(Source.DYNATRACE, headers, body, example_secrets())) == 1


def test_samples_use_bearer_and_ingest_token_headers() -> None:
    assert webhook_event_names("dynatrace") == ["open", "problem-v2", "resolved"]
    assert webhook_event("dynatrace", "open")[0]["Authorization"] == "Bearer example-dynatrace-token"
    assert webhook_event("dynatrace", "problem-v2")[0]["X-Ingest-Token"] == "example-dynatrace-token"


def test_a_wrong_token_is_refused() -> None:
    headers, body = webhook_event("dynatrace", "open")
    with pytest.raises(AuthenticationError):
        normalize(Source.DYNATRACE, {**headers, "Authorization": "Bearer wrong"}, body, example_secrets())


def test_open_sample() -> None:
    headers, body = webhook_event("dynatrace", "open")
    (alert,) = normalize(Source.DYNATRACE, headers, body, None)
    assert alert.title == "Response time degradation"
    assert alert.severity is Severity.WARNING
    assert alert.status is AlertStatus.OPEN
    assert alert.source is Source.DYNATRACE
    assert alert.externalId == PID
    assert alert.startedAt == "2026-11-27T08:14:00.000Z"
    assert alert.endedAt is None  # endTime -1
    assert "the response time degraded to 1.42 s" in alert.description
    assert "checkout-service" in alert.description
    assert alert.rawPayload["ProblemDetailsJSONv2"]["problemId"] == PID


def test_resolved_sample_keeps_the_key_and_carries_its_end() -> None:
    headers, body = webhook_event("dynatrace", "resolved")
    (alert,) = normalize(Source.DYNATRACE, headers, body, None)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.externalId == PID
    assert alert.startedAt == "2026-11-27T08:14:00.000Z"
    assert alert.endedAt == "2026-11-27T08:41:30.000Z"


def test_problems_api_v2_sample() -> None:
    headers, body = webhook_event("dynatrace", "problem-v2")
    (alert,) = normalize(Source.DYNATRACE, headers, body, None)
    assert alert.title == "Multiple service failures"
    assert alert.severity is Severity.CRITICAL
    assert alert.status is AlertStatus.RESOLVED  # v2 status CLOSED
    assert alert.externalId == V2_PID
    assert alert.startedAt == "2026-11-26T22:05:00.000Z"
    assert alert.endedAt == "2026-11-26T22:47:12.345Z"
    assert "payments-api, ledger" in alert.description
    assert alert.rawPayload["problemId"] == V2_PID


# --- title ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_template(ProblemTitle="CPU saturation"), "CPU saturation"),
        (_template(ProblemTitle="  "), "Response time degradation"),
        (_template(v2={"title": "From v2"}, drop=("ProblemTitle",)), "From v2"),
        (_template(v2={"title": None}, ProblemTitle=None), f"Dynatrace alert {PID}"),
        (_v2_body(), "Multiple service failures"),
        (_v2_body(title=""), f"Dynatrace alert {V2_PID}"),
    ],
)
def test_title_is_problem_title_then_v2_title_then_default(body: bytes, expected: str) -> None:
    assert _one(body).title == expected


# --- severity -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AVAILABILITY", Severity.CRITICAL),
        ("ERROR", Severity.HIGH),
        ("PERFORMANCE", Severity.WARNING),
        ("RESOURCE_CONTENTION", Severity.WARNING),
        ("CUSTOM_ALERT", Severity.WARNING),
        ("MONITORING_UNAVAILABLE", Severity.WARNING),
        ("INFO", Severity.INFO),
        (" availability ", Severity.CRITICAL),
        ("Error", Severity.HIGH),
        ("SOMETHING_NEW", Severity.WARNING),
    ],
)
def test_severity_table(value: str, expected: Severity) -> None:
    assert _one(_template(v2={"severityLevel": None}, ProblemSeverity=value)).severity is expected
    assert _one(_template(v2={"severityLevel": value}, ProblemSeverity=" ")).severity is expected
    assert _one(_v2_body(severityLevel=value)).severity is expected


def test_problem_severity_wins_over_v2_severity_level() -> None:
    body = _template(v2={"severityLevel": "INFO"}, ProblemSeverity="AVAILABILITY")
    assert _one(body).severity is Severity.CRITICAL


def test_severity_without_either_field_is_a_warning() -> None:
    assert _one(_template(v2={"severityLevel": None}, drop=("ProblemSeverity",))).severity is Severity.WARNING
    assert _one(_v2_body(drop=("severityLevel",))).severity is Severity.WARNING


def test_unknown_problem_severity_maps_to_warning_without_falling_through() -> None:
    """The table itself says what an unknown value is (warning), so severityLevel is not consulted."""
    body = _template(v2={"severityLevel": "AVAILABILITY"}, ProblemSeverity="SOMETHING_NEW")
    assert _one(body).severity is Severity.WARNING


# --- status ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RESOLVED", AlertStatus.RESOLVED),
        ("CLOSED", AlertStatus.RESOLVED),
        (" resolved ", AlertStatus.RESOLVED),
        ("Closed", AlertStatus.RESOLVED),
        ("OPEN", AlertStatus.OPEN),
        ("MERGED", AlertStatus.OPEN),
    ],
)
def test_status_from_state_or_v2_status(value: str, expected: AlertStatus) -> None:
    assert _one(_template(v2={"status": None}, State=value)).status is expected
    assert _one(_template(v2={"status": value}, drop=("State",))).status is expected
    assert _one(_v2_body(status=value)).status is expected


def test_state_wins_over_v2_status() -> None:
    assert _one(_template(v2={"status": "CLOSED"}, State="OPEN")).status is AlertStatus.OPEN
    assert _one(_template(v2={"status": "OPEN"}, State="RESOLVED")).status is AlertStatus.RESOLVED


def test_status_without_either_field_is_open() -> None:
    assert _one(_template(v2={"status": None}, State="")).status is AlertStatus.OPEN


# --- externalId -----------------------------------------------------------------------------------------

_URL = "https://abc12345.live.dynatrace.com/#problems/problemdetails;pid=URL_PID;gtf=-2h"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_template(PID="A_1V2", ProblemURL=_URL), "A_1V2"),
        (_template(v2={"problemId": "B_2V2"}, PID=" ", ProblemURL=_URL), "B_2V2"),
        (_template(v2={"problemId": None}, drop=("PID",), ProblemURL=_URL), "URL_PID"),
        (_template(v2={"problemId": ""}, PID=None, ProblemURL=f"{_URL}#x"), "URL_PID"),
        (
            _template(v2={"problemId": None}, PID=None, ProblemURL="https://x/#problems?pid=Q_3V2&gtf=2h"),
            "Q_3V2",
        ),
        (
            _template(v2={"problemId": None}, PID=None, ProblemURL="https://x/ui/problems/pid=R_4V2#top"),
            "R_4V2",
        ),
        (_template(v2={"problemId": None}, PID=None, ProblemURL="https://x/#problems"), "P-26112718"),
        (_template(v2={"problemId": None}, PID=None, ProblemURL="https://x/#problems;pid="), "P-26112718"),
        (_template(v2={"problemId": None}, PID=None, drop=("ProblemURL",)), "P-26112718"),
        (
            _template(v2={"problemId": None, "displayId": "P-9"}, PID=None, ProblemID="", drop=("ProblemURL",)),
            "P-9",
        ),
        (_template(drop=("ProblemDetailsJSONv2",), PID=None, ProblemURL=None), "P-26112718"),
        (_v2_body(), V2_PID),
        (_v2_body(problemId="  "), "P-26112655"),
    ],
)
def test_external_id_order(body: bytes, expected: str) -> None:
    assert _one(body).externalId == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            _template(v2={"problemId": None, "displayId": " "}, drop=("PID", "ProblemURL"), ProblemID=None),
            "PID",
        ),
        (_template(drop=("PID", "ProblemURL", "ProblemID", "ProblemDetailsJSONv2")), "PID"),
        (b"{}", "PID"),
        (_v2_body(problemId=None, displayId=""), "problemId"),
    ],
)
def test_no_id_input_is_a_400_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.DYNATRACE, {}, body, None)
    assert refused.value.field == field


def test_numeric_ids_are_decimal_strings() -> None:
    body = b'{"PID": 12345678901234567890, "State": "OPEN"}'
    assert _one(body).externalId == "12345678901234567890"
    assert _one(b'{"ProblemID": 1E+3}').externalId == "1000"


# --- times ----------------------------------------------------------------------------------------------


def test_started_at_is_v2_start_time_in_milliseconds() -> None:
    assert _one(_template(v2={"startTime": 1795767240123})).startedAt == "2026-11-27T08:14:00.123Z"
    assert _one(_template(v2={"startTime": "1795767240123"})).startedAt == "2026-11-27T08:14:00.123Z"
    assert _one(_v2_body(startTime=1795730700000)).startedAt == "2026-11-26T22:05:00.000Z"


def test_started_at_is_null_without_a_v2_object() -> None:
    alert = _one(_template(drop=("ProblemDetailsJSONv2",), State="RESOLVED"))
    assert (alert.startedAt, alert.endedAt) == (None, None)
    assert _one(_template(ProblemDetailsJSONv2=None)).startedAt is None


@pytest.mark.parametrize(
    ("state", "end_time", "expected"),
    [
        ("RESOLVED", 1795768890000, "2026-11-27T08:41:30.000Z"),
        ("RESOLVED", "1795768890007", "2026-11-27T08:41:30.007Z"),
        ("RESOLVED", -1, None),
        ("RESOLVED", "-1", None),
        ("RESOLVED", 0, None),
        ("RESOLVED", None, None),
        ("OPEN", 1795768890000, None),
        ("OPEN", -1, None),
    ],
)
def test_ended_at_only_when_resolved_and_end_time_positive(state: str, end_time: Any, expected: str | None) -> None:
    assert _one(_template(v2={"endTime": end_time}, State=state)).endedAt == expected


def test_v2_body_closed_carries_its_end() -> None:
    assert _one(_v2_body(status="CLOSED", endTime=1795733232345)).endedAt == "2026-11-26T22:47:12.345Z"
    assert _one(_v2_body(status="OPEN", endTime=1795733232345)).endedAt is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_template(v2={"startTime": "yesterday"}), "ProblemDetailsJSONv2.startTime"),
        (_template(v2={"endTime": "later"}, State="RESOLVED"), "ProblemDetailsJSONv2.endTime"),
        (_v2_body(startTime="soon"), "startTime"),
        (_template(ProblemDetailsJSONv2='{"problemId": "x"}'), "ProblemDetailsJSONv2"),
        (_template(ProblemDetailsJSONv2=[1, 2]), "ProblemDetailsJSONv2"),
        (b"[]", "body"),
    ],
)
def test_malformed_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(Source.DYNATRACE, {}, body, None)
    assert refused.value.field == field


# --- description and rawPayload -------------------------------------------------------------------------


def test_description_of_a_v2_body_names_entities_root_cause_and_tags() -> None:
    body = _v2_body(
        impactedEntities=[{"entityId": {"id": "S-1", "type": "SERVICE"}, "name": "payments-api"}],
        rootCauseEntity={"entityId": {"id": "S-2", "type": "SERVICE"}, "name": "ledger"},
        entityTags=[{"key": "team", "value": "payments", "stringRepresentation": "team:payments"}],
        impactLevel="SERVICES",
    )
    description = _one(body).description
    for expected in ("P-26112655", "SERVICES", "payments-api", "ledger", "team:payments"):
        assert expected in description


def test_raw_payload_is_the_whole_request() -> None:
    headers, body = webhook_event("dynatrace", "open")
    (alert,) = normalize(Source.DYNATRACE, headers, body, None)
    assert alert.rawPayload == json.loads(body)
