"""The "General rules" and "Output conventions" of ../shared/spec/alert-normalization.md.

Each rule is checked on the shared helpers (`normalizers/common.py`, `support/`) and through the public `normalize()`
on Alertmanager, Grafana and Dynatrace bodies, so a source that stops using a helper is caught too.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from incident_core.bounds import parse_json_object
from incident_core.errors import MalformedRequest
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.normalizers import normalize
from incident_core.normalizers.common import (
    RAW_PAYLOAD_LIMIT_BYTES,
    SHARED_SEVERITY,
    default_title,
    epoch_millis,
    epoch_seconds,
    raw_payload,
    rfc3339,
    shared_severity,
)
from incident_core.support.numbers import exact_decimal
from incident_core.support.text import first_text, lookup, text
from tests.events import webhook_event, webhook_event_names

UTC_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PORT_REQUEST_LIMIT = 1024 * 1024


def _batch(source: Source, **alert_fields: Any) -> bytes:
    """An Alertmanager (`version: "4"`) or Grafana unified (`version: "1"`) batch of one alert."""
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "DiskFull", "severity": "critical"},
        "annotations": {"summary": "Disk full"},
        "startsAt": "2026-03-14T09:26:53.589793238Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "0123456789abcdef",
    }
    alert.update(alert_fields)
    version = "4" if source is Source.PROMETHEUS else "1"
    return json.dumps({"version": version, "status": "firing", "alerts": [alert]}).encode()


def _dynatrace(v2: dict[str, Any] | None = None, **fields: Any) -> bytes:
    payload: dict[str, Any] = {
        "State": "OPEN",
        "PID": "-4417283048462618722_1795767240000V2",
        "ProblemID": "P-26112718",
        "ProblemTitle": "Response time degradation",
        "ProblemSeverity": "ERROR",
        "ProblemDetailsJSONv2": {"startTime": 1795767240000, "endTime": -1, **(v2 or {})},
    }
    payload.update(fields)
    return json.dumps(payload).encode()


def _one(source: Source, body: bytes) -> Alert:
    (alert,) = normalize(source, {}, body, None)
    return alert


BATCH_SOURCES = [Source.PROMETHEUS, Source.GRAFANA]


# --- absent values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", " ", "\t\n  ", {}, {"a": "b"}, [], ["x"], True, False])
def test_absent_values_have_no_text(value: Any) -> None:
    assert text(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" x ", "x"), ("0", "0"), (0, "0"), (42, "42"), (Decimal("1.50"), "1.50"), (Decimal("1E+3"), "1000")],
)
def test_present_values_are_trimmed_text(value: Any, expected: str) -> None:
    assert text(value) == expected


def test_first_text_skips_absent_values_like_missing_ones() -> None:
    assert first_text(None, "", "  ", "found", "later") == "found"
    assert first_text(None, " ") is None


@pytest.mark.parametrize("source", BATCH_SOURCES)
@pytest.mark.parametrize("alertname", [None, "", "   "])
def test_absent_alertname_falls_through_to_the_default_title(source: Source, alertname: str | None) -> None:
    alert = _one(source, _batch(source, labels={"alertname": alertname, "severity": "critical"}))
    assert alert.title == f"{source.display_name} alert 0123456789abcdef"


@pytest.mark.parametrize("source", BATCH_SOURCES)
@pytest.mark.parametrize("fingerprint", [None, "", "  "])
def test_absent_fingerprint_is_a_400(source: Source, fingerprint: str | None) -> None:
    with pytest.raises(MalformedRequest) as refused:
        normalize(source, {}, _batch(source, fingerprint=fingerprint), None)
    assert refused.value.field == "alerts[0].fingerprint"


@pytest.mark.parametrize("pid", [None, "", "   "])
def test_absent_dynatrace_pid_falls_through_like_a_missing_one(pid: str | None) -> None:
    assert _one(Source.DYNATRACE, _dynatrace(PID=pid)).externalId == "P-26112718"


@pytest.mark.parametrize("title", [None, "", "  "])
def test_absent_dynatrace_title_falls_through_to_the_v2_title(title: str | None) -> None:
    body = _dynatrace(v2={"title": "From v2"}, ProblemTitle=title)
    assert _one(Source.DYNATRACE, body).title == "From v2"


# --- case-insensitive, trimmed matching -----------------------------------------------------------------


def test_lookup_is_case_insensitive_on_the_trimmed_value() -> None:
    table = {"resolved": AlertStatus.RESOLVED}
    for value in ("resolved", "RESOLVED", " Resolved ", "\tresolved\n"):
        assert lookup(table, value) is AlertStatus.RESOLVED


@pytest.mark.parametrize("value", ["resolve", "resolved!", "", None, 1])
def test_a_value_outside_the_table_counts_as_absent(value: Any) -> None:
    assert lookup({"resolved": AlertStatus.RESOLVED}, value) is None


@pytest.mark.parametrize("source", BATCH_SOURCES)
def test_batch_status_and_severity_match_case_insensitively(source: Source) -> None:
    body = _batch(
        source,
        status=" RESOLVED ",
        endsAt="2026-03-14T10:00:00Z",
        labels={"alertname": "DiskFull", "severity": "  CRIT "},
    )
    alert = _one(source, body)
    assert (alert.status, alert.severity) == (AlertStatus.RESOLVED, Severity.CRITICAL)


def test_dynatrace_values_match_case_insensitively() -> None:
    alert = _one(Source.DYNATRACE, _dynatrace(State=" closed ", ProblemSeverity=" Availability "))
    assert (alert.status, alert.severity) == (AlertStatus.RESOLVED, Severity.CRITICAL)


# --- externalId is a string -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", BATCH_SOURCES)
def test_numeric_fingerprints_become_decimal_strings(source: Source) -> None:
    assert _one(source, _batch(source, fingerprint=1234567890123456789012)).externalId == "1234567890123456789012"
    body = _batch(source).replace(b'"0123456789abcdef"', b"1E+3")
    assert _one(source, body).externalId == "1000"


def test_numeric_dynatrace_and_legacy_grafana_ids_become_decimal_strings() -> None:
    assert _one(Source.DYNATRACE, _dynatrace(PID=987654321)).externalId == "987654321"
    assert _one(Source.DYNATRACE, b'{"ProblemID": 2.5E+2}').externalId == "250"
    assert _one(Source.GRAFANA, b'{"ruleId": 42, "evalMatches": []}').externalId == "legacy-rule:42"


def test_external_ids_of_every_sample_are_strings() -> None:
    for alert in _sample_alerts():
        assert isinstance(alert.externalId, str)
        assert alert.externalId.strip() == alert.externalId != ""


# --- default title --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (Source.PROMETHEUS, "Prometheus alert 3f1c"),
        (Source.GRAFANA, "Grafana alert 3f1c"),
        (Source.DYNATRACE, "Dynatrace alert 3f1c"),
        (Source.DATADOG, "Datadog alert 3f1c"),
        (Source.NEWRELIC, "New Relic alert 3f1c"),
        (Source.SENTRY, "Sentry alert 3f1c"),
    ],
)
def test_default_title(source: Source, expected: str) -> None:
    assert default_title(source, "3f1c") == expected


def test_default_title_through_normalize() -> None:
    assert _one(Source.PROMETHEUS, _batch(Source.PROMETHEUS, labels={})).title == "Prometheus alert 0123456789abcdef"
    assert _one(Source.GRAFANA, _batch(Source.GRAFANA, labels={})).title == "Grafana alert 0123456789abcdef"
    body = _dynatrace(ProblemTitle=None)
    assert _one(Source.DYNATRACE, body).title == "Dynatrace alert -4417283048462618722_1795767240000V2"


# --- times: RFC 3339 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        ("", "09:26:53.000Z"),
        (".5", "09:26:53.500Z"),
        (".58", "09:26:53.580Z"),
        (".589", "09:26:53.589Z"),
        (".5897", "09:26:53.589Z"),
        (".58979", "09:26:53.589Z"),
        (".589793", "09:26:53.589Z"),
        (".5897932", "09:26:53.589Z"),
        (".58979323", "09:26:53.589Z"),
        (".589793238", "09:26:53.589Z"),
        (".999999999", "09:26:53.999Z"),  # truncated, never rounded up to the next second
    ],
)
def test_rfc3339_with_0_to_9_fractional_digits(fraction: str, expected: str) -> None:
    assert rfc3339(f"2026-03-14T09:26:53{fraction}Z", "t") == f"2026-03-14T{expected}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-14T14:56:53.589+05:30", "2026-03-14T09:26:53.589Z"),
        ("2026-03-14T11:26:53+02:00", "2026-03-14T09:26:53.000Z"),
        ("2026-03-14T06:26:53.1-03:00", "2026-03-14T09:26:53.100Z"),
        ("2026-03-14T09:26:53+00:00", "2026-03-14T09:26:53.000Z"),
        ("2026-03-14T14:56:53+0530", "2026-03-14T09:26:53.000Z"),
        ("2026-03-14T01:00:00-09:00", "2026-03-14T10:00:00.000Z"),
        ("2026-03-14T23:30:00-01:00", "2026-03-15T00:30:00.000Z"),  # the date moves too
        ("2026-03-14t09:26:53z", "2026-03-14T09:26:53.000Z"),
    ],
)
def test_rfc3339_offsets_are_converted_to_utc(value: str, expected: str) -> None:
    assert rfc3339(value, "t") == expected


@pytest.mark.parametrize("value", ["2026-03-14T09:26:53.589793238", "2026-03-14T09:26:53.589"])
def test_rfc3339_without_offset_is_utc(value: str) -> None:
    assert rfc3339(value, "t") == "2026-03-14T09:26:53.589Z"


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00.000Z",
        "0001-01-01T00:00:00+00:00",
        " 0001-01-01T00:00:00Z ",
    ],
)
def test_zero_time_is_null(value: str) -> None:
    assert rfc3339(value, "t") is None


@pytest.mark.parametrize("value", [None, "", "  "])
def test_absent_time_is_null(value: str | None) -> None:
    assert rfc3339(value, "t") is None
    assert epoch_millis(value, "t") is None
    assert epoch_seconds(value, "t") is None


@pytest.mark.parametrize("value", ["yesterday", "2026-03-14", "2026-13-14T09:26:53Z", "1773480413"])
def test_invalid_rfc3339_is_a_400_naming_the_field(value: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        rfc3339(value, "alerts[0].startsAt")
    assert refused.value.field == "alerts[0].startsAt"


@pytest.mark.parametrize("source", BATCH_SOURCES)
def test_zero_time_is_null_in_every_time_field(source: Source) -> None:
    zero = "0001-01-01T00:00:00Z"
    firing = _one(source, _batch(source, startsAt=zero, endsAt=zero))
    resolved = _one(source, _batch(source, status="resolved", startsAt=zero, endsAt=zero))
    assert (firing.startedAt, firing.endedAt, resolved.startedAt, resolved.endedAt) == (None,) * 4
    assert resolved.status is AlertStatus.RESOLVED


@pytest.mark.parametrize("source", BATCH_SOURCES)
def test_batch_times_through_normalize(source: Source) -> None:
    alert = _one(
        source,
        _batch(source, status="resolved", startsAt="2026-03-14T14:56:53.5+05:30", endsAt="2026-03-14T10:00:00"),
    )
    assert (alert.startedAt, alert.endedAt) == ("2026-03-14T09:26:53.500Z", "2026-03-14T10:00:00.000Z")


# --- times: epoch numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        1795767240123,
        "1795767240123",
        " 1795767240123 ",
        Decimal("1795767240123"),
        Decimal("1795767240123.9"),
        "1795767240123.999",
    ],
)
def test_epoch_milliseconds_as_numbers_and_strings(value: Any) -> None:
    assert epoch_millis(value, "t") == "2026-11-27T08:14:00.123Z"


@pytest.mark.parametrize(
    "value",
    [
        1775645211.9999996,  # a Python float
        "1775645211.9999996",
        Decimal("1775645211.9999996"),
        parse_json_object(b'{"t": 1775645211.9999996}')["t"],
    ],
)
def test_epoch_seconds_truncate_in_decimal(value: Any) -> None:
    assert epoch_seconds(value, "t") == "2026-04-08T10:46:51.999Z"


@pytest.mark.parametrize(
    ("value", "expected"), [(1775645211, ".000Z"), ("1775645211.5", ".500Z"), (1775645211.25, ".250Z")]
)
def test_epoch_seconds_as_integers_floats_and_strings(value: Any, expected: str) -> None:
    assert epoch_seconds(value, "t") == f"2026-04-08T10:46:51{expected}"


def test_json_fractions_are_parsed_as_decimals() -> None:
    assert exact_decimal(parse_json_object(b'{"t": 1775645211.9999996}')["t"]) == Decimal("1775645211.9999996")


@pytest.mark.parametrize("value", ["soon", "12abc", "NaN", "Infinity", "1e30", "-1e30"])
def test_invalid_epoch_is_a_400_naming_the_field(value: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        epoch_millis(value, "ProblemDetailsJSONv2.startTime")
    assert refused.value.field == "ProblemDetailsJSONv2.startTime"


@pytest.mark.parametrize("start", [1795767240123, "1795767240123", "1795767240123.7"])
def test_dynatrace_epoch_milliseconds_through_normalize(start: Any) -> None:
    alert = _one(Source.DYNATRACE, _dynatrace(v2={"startTime": start}))
    assert alert.startedAt == "2026-11-27T08:14:00.123Z"


def test_dynatrace_fractional_epoch_through_the_json_body_is_truncated() -> None:
    body = _dynatrace(v2={"startTime": 0}).replace(b'"startTime": 0', b'"startTime": 1795767240123.9999999')
    assert _one(Source.DYNATRACE, body).startedAt == "2026-11-27T08:14:00.123Z"


# --- shared severity table ------------------------------------------------------------------------------

SEVERITY_TABLE = {
    Severity.CRITICAL: ["critical", "crit", "fatal", "emergency", "p1", "sev1", "sev-1"],
    Severity.HIGH: ["high", "error", "major", "p2", "sev2", "sev-2"],
    Severity.WARNING: ["warning", "warn", "medium", "minor", "p3", "sev3", "sev-3"],
    Severity.INFO: ["info", "informational", "low", "none", "debug", "p4", "p5", "sev4", "sev5"],
}
SEVERITY_CASES = [(value, severity) for severity, values in SEVERITY_TABLE.items() for value in values]


def test_the_shared_table_is_exactly_the_spec() -> None:
    assert dict(SEVERITY_CASES) == SHARED_SEVERITY


@pytest.mark.parametrize(("value", "expected"), SEVERITY_CASES)
def test_shared_severity_table(value: str, expected: Severity) -> None:
    assert shared_severity(value) is expected
    assert shared_severity(f"  {value.upper()} ") is expected
    assert shared_severity(value.capitalize()) is expected


@pytest.mark.parametrize("value", ["page", "PAGE", "p0", "sev0", "urgent", "", "   ", None, 1])
def test_shared_severity_anything_else_is_a_warning(value: Any) -> None:
    assert shared_severity(value) is Severity.WARNING


@pytest.mark.parametrize("source", BATCH_SOURCES)
@pytest.mark.parametrize(
    ("value", "expected"), [*SEVERITY_CASES, ("page", Severity.WARNING), (" Sev-1 ", Severity.CRITICAL)]
)
def test_shared_severity_through_normalize(source: Source, value: str, expected: Severity) -> None:
    body = _batch(source, labels={"alertname": "DiskFull", "severity": value})
    assert _one(source, body).severity is expected


@pytest.mark.parametrize("source", BATCH_SOURCES)
def test_missing_severity_label_is_a_warning(source: Source) -> None:
    assert _one(source, _batch(source, labels={"alertname": "DiskFull"})).severity is Severity.WARNING


@pytest.mark.parametrize(("value", "expected"), [("sev-2", Severity.HIGH), ("page", Severity.WARNING)])
def test_legacy_grafana_tags_severity_uses_the_shared_table(value: str, expected: Severity) -> None:
    body = json.dumps({"ruleId": 1, "tags": {"severity": value}}).encode()
    assert _one(Source.GRAFANA, body).severity is expected


# --- rawPayload stays bounded ---------------------------------------------------------------------------


def test_raw_payload_keeps_a_small_element_as_plain_json() -> None:
    kept = raw_payload(parse_json_object(b'{"n": 1.5, "i": 2, "s": ["x"]}'))
    assert kept == {"n": 1.5, "i": 2, "s": ["x"]}
    assert json.loads(json.dumps(kept)) == kept


def test_raw_payload_of_a_huge_element_is_a_bounded_excerpt() -> None:
    bounded = raw_payload({"blob": "x" * (3 * RAW_PAYLOAD_LIMIT_BYTES)})
    assert bounded["truncated"] is True
    assert bounded["originalBytes"] > 3 * RAW_PAYLOAD_LIMIT_BYTES
    assert len(json.dumps(bounded).encode()) <= RAW_PAYLOAD_LIMIT_BYTES


HUGE = "é" * (2 * PORT_REQUEST_LIMIT)  # two bytes each in UTF-8: a 4 MiB field


@pytest.mark.parametrize(
    ("source", "body"),
    [
        (Source.PROMETHEUS, _batch(Source.PROMETHEUS, annotations={"description": HUGE})),
        (Source.GRAFANA, _batch(Source.GRAFANA, annotations={"description": HUGE})),
        (Source.GRAFANA, json.dumps({"ruleId": 1, "message": HUGE}).encode()),
        (Source.DYNATRACE, _dynatrace(ProblemDetailsText=HUGE)),
    ],
)
def test_raw_payload_stays_under_the_port_limit_for_a_huge_alert(source: Source, body: bytes) -> None:
    alert = _one(source, body)
    assert alert.rawPayload["truncated"] is True
    assert alert.rawPayload["originalBytes"] > len(HUGE)
    assert len(json.dumps(alert.rawPayload).encode()) < PORT_REQUEST_LIMIT  # even with \u escapes
    assert alert.externalId  # the alert itself is still normalized


# --- output conventions over every sample ---------------------------------------------------------------


def _sample_alerts() -> list[Alert]:
    alerts = []
    for source in [*BATCH_SOURCES, Source.DYNATRACE]:
        for name in webhook_event_names(source.value):
            headers, body = webhook_event(source.value, name)
            alerts.extend(normalize(source, headers, body, None))
    return alerts


def test_samples_exist_for_each_source() -> None:
    assert {alert.source for alert in _sample_alerts()} == {
        Source.PROMETHEUS,
        Source.GRAFANA,
        Source.DYNATRACE,
    }


def test_output_conventions_hold_for_every_sample() -> None:
    for alert in _sample_alerts():
        fields = alert.seed_fields()
        assert fields["severity"] in {"critical", "high", "warning", "info"}
        assert fields["status"] in {"open", "acknowledged", "resolved"}
        assert fields["source"] in {"prometheus", "grafana", "dynatrace"}
        for name in ("startedAt", "endedAt"):
            assert fields[name] is None or UTC_MILLIS.match(fields[name]), (name, fields[name])
        assert fields["endedAt"] is None or fields["status"] == "resolved"
        assert fields["title"]
        assert fields["description"]
        assert isinstance(fields["rawPayload"], dict)
        assert fields["rawPayload"]
        assert len(json.dumps(fields).encode()) < PORT_REQUEST_LIMIT


def test_output_is_deterministic_and_uses_no_clock() -> None:
    headers, body = webhook_event("grafana", "legacy")
    first, second = (normalize(Source.GRAFANA, headers, body, None) for _ in range(2))
    assert first == second
    assert (first[0].startedAt, first[0].endedAt) == (None, None)  # never the receive time
