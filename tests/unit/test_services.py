"""Which service an alert belongs to: `read_path`, `service_of`, the default mapping per source against the
sample events, and the SERVICE_MAPPING setting that overrides it per source.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from incident_core.config import DEFAULT_SERVICE_MAPPING, Settings, get_settings
from incident_core.errors import ConfigurationError
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.models.alert import port_identifier
from incident_core.normalizers import normalize
from incident_core.usecases.services import read_path, service_of
from tests.events import example_secrets, webhook_event

PAYLOAD: dict[str, Any] = {
    "alert": {"labels": {"service": "checkout", "app": "shop", "empty": "  ", "port": 8080}},
    "impactedEntities": ["checkout-api", "ledger"],
    "entities": [{"name": "payments"}, {"name": "ledger"}],
    "scope": "availability-zone:us-east-1a, Service: checkout ,team:payments",
    "tagList": ["env:prod", "SERVICE:  ledger  ", "broken", "service:"],
    "nested": {"tags": "service:orders"},
    "flag": True,
    "object": {"a": 1},
}


def _alert(raw: dict[str, Any], source: Source = Source.PROMETHEUS) -> Alert:
    return Alert(
        title="t", severity=Severity.WARNING, status=AlertStatus.OPEN, source=source, externalId="x", rawPayload=raw
    )


# --- read_path ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("alert.labels.service", "checkout"),
        ("alert.labels.app", "shop"),
        ("alert.labels.port", "8080"),
        ("impactedEntities.0", "checkout-api"),
        ("impactedEntities.1", "ledger"),
        ("entities.0.name", "payments"),
        ("entities.1.name", "ledger"),
    ],
)
def test_read_path_follows_dotted_keys_and_list_indexes(path: str, expected: str) -> None:
    assert read_path(PAYLOAD, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "alert.labels.missing",
        "missing.deeper.path",
        "impactedEntities.2",  # index out of range
        "entities.name",  # a key into a list
        "alert.labels.service.more",  # a key into a string
        "alert.labels.empty",  # blank counts as absent
        "flag",  # not text
        "object",
        "impactedEntities",
    ],
)
def test_read_path_is_none_when_absent(path: str) -> None:
    assert read_path(PAYLOAD, path) is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tag:scope:service", "checkout"),  # comma-separated, key case-insensitive, value trimmed
        ("tag:scope:SERVICE", "checkout"),
        ("tag:scope:team", "payments"),
        ("tag:scope:availability-zone", "us-east-1a"),
        ("tag:tagList:service", "ledger"),  # a list of key:value strings
        ("tag:tagList:env", "prod"),
        ("tag:nested.tags:service", "orders"),  # the tag location is itself a dotted path
    ],
)
def test_read_path_reads_key_value_tags(path: str, expected: str) -> None:
    assert read_path(PAYLOAD, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "tag:scope:owner",  # no such key
        "tag:tagList:broken",  # an entry without a separator
        "tag:missing:service",  # no tags there
        "tag:object:a",  # not a string or a list
        "tag:alert.labels.service:checkout",  # a plain value has no key:value pair
    ],
)
def test_read_path_tag_absent_is_none(path: str) -> None:
    assert read_path(PAYLOAD, path) is None


def test_read_path_tag_skips_an_empty_value_and_keeps_looking() -> None:
    assert read_path({"tags": ["service:", "service: ", "service:api"]}, "tag:tags:service") == "api"
    assert read_path({"tags": "service:,  service:  "}, "tag:tags:service") is None


def test_read_path_tag_value_may_contain_a_colon() -> None:
    assert read_path({"tags": "url:https://shop.example.com"}, "tag:tags:url") == "https://shop.example.com"


# --- service_of ---------------------------------------------------------------------------------------------


def test_service_of_takes_the_first_path_that_yields() -> None:
    alert = _alert(PAYLOAD)
    assert service_of(alert, ["alert.labels.missing", "alert.labels.empty", "alert.labels.app"]) == "shop"
    assert service_of(alert, ["tag:scope:service", "alert.labels.app"]) == "checkout"
    assert service_of(alert, ["alert.labels.missing", "tag:scope:owner"]) is None
    assert service_of(alert, []) is None


def test_service_of_sanitizes_to_a_port_identifier() -> None:
    alert = _alert({"alert": {"labels": {"service": "checkout api (eu)"}}})
    found = service_of(alert, ["alert.labels.service"])

    assert found == port_identifier("checkout api (eu)")
    assert found is not None
    assert found.startswith("checkout-api--eu-")
    assert " " not in found
    assert "(" not in found
    # A value that already is an identifier stays as it is.
    assert service_of(_alert({"s": "payments-api"}), ["s"]) == "payments-api"


# --- the default mapping against the sample events ----------------------------------------------------------


def _services(source: Source, name: str) -> list[str | None]:
    headers, body = webhook_event(source.value, name)
    alerts = normalize(source, headers, body, example_secrets())
    return [service_of(alert, DEFAULT_SERVICE_MAPPING[source]) for alert in alerts]


def test_default_mapping_covers_every_source() -> None:
    assert set(DEFAULT_SERVICE_MAPPING) == set(Source)
    assert all(DEFAULT_SERVICE_MAPPING.values())


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        (Source.PROMETHEUS, "firing", ["checkout", "payments"]),
        (Source.PROMETHEUS, "resolved", ["checkout"]),
        # Grafana: the two alerts without a service/app/job label have no service.
        (Source.GRAFANA, "firing", ["checkout", "payments", None, None]),
        (Source.GRAFANA, "resolved", ["checkout"]),
        (Source.GRAFANA, "legacy", [None]),
        # Dynatrace classic: the `service:` tag wins over the impacted entity's name ("checkout-service").
        (Source.DYNATRACE, "open", ["checkout"]),
        (Source.DYNATRACE, "resolved", ["checkout"]),
        # Dynatrace problem details v2: the first impacted entity.
        (Source.DYNATRACE, "problem-v2", ["payments-api"]),
        (Source.DATADOG, "triggered", ["checkout"]),
        (Source.DATADOG, "recovered", ["checkout"]),
        (Source.DATADOG, "default-payload", [None]),
        (Source.NEWRELIC, "activated", ["checkout-api"]),
        (Source.NEWRELIC, "acknowledged", ["checkout-api"]),
        (Source.NEWRELIC, "closed", ["checkout-api"]),
        (Source.SENTRY, "issue-created", ["checkout-api"]),
        (Source.SENTRY, "issue-resolved", ["checkout-api"]),
    ],
)
def test_default_mapping_finds_the_service_in_the_samples(
    source: Source, name: str, expected: list[str | None]
) -> None:
    assert _services(source, name) == expected


# --- SERVICE_MAPPING ----------------------------------------------------------------------------------------


def test_settings_default_to_the_default_mapping() -> None:
    assert get_settings({}).service_mapping == DEFAULT_SERVICE_MAPPING
    assert get_settings({"SERVICE_MAPPING": "  "}).service_mapping == DEFAULT_SERVICE_MAPPING


def test_service_mapping_overrides_one_source_and_keeps_the_others() -> None:
    override = {"datadog": ["tag:tags:app", "tag:alert_scope:app"]}
    settings = get_settings({"SERVICE_MAPPING": json.dumps(override)})

    assert settings.service_mapping[Source.DATADOG] == ("tag:tags:app", "tag:alert_scope:app")
    for source in Source:
        if source is not Source.DATADOG:
            assert settings.service_mapping[source] == DEFAULT_SERVICE_MAPPING[source]
    assert set(settings.service_mapping) == set(Source)
    assert all(isinstance(key, Source) for key in settings.service_mapping)


def test_an_overridden_mapping_is_what_service_of_uses() -> None:
    mapping = {"prometheus": ["alert.labels.namespace", "alert.labels.service"]}
    settings = get_settings({"SERVICE_MAPPING": json.dumps(mapping)})
    headers, body = webhook_event("prometheus", "firing")
    alert = normalize(Source.PROMETHEUS, headers, body, None)[0]

    assert service_of(alert, DEFAULT_SERVICE_MAPPING[Source.PROMETHEUS]) == "checkout"
    assert service_of(alert, settings.service_mapping[Source.PROMETHEUS]) == "shop"


def test_settings_accept_a_mapping_object_directly() -> None:
    settings = Settings(service_mapping={"sentry": ["data.issue.project.name"]})
    assert settings.service_mapping[Source.SENTRY] == ("data.issue.project.name",)
    assert settings.service_mapping[Source.PROMETHEUS] == DEFAULT_SERVICE_MAPPING[Source.PROMETHEUS]


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        '{"splunk": ["a.b"]}',  # not a source
        '{"datadog": "tag:tags:service"}',  # a string where a list of paths belongs
        '{"datadog": [1, 2]}',  # paths must be strings
        '["datadog"]',  # not an object
        '"datadog"',
    ],
)
def test_invalid_service_mapping_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"(?s)^invalid settings: .*service_mapping"):
        get_settings({"SERVICE_MAPPING": value})


def test_other_invalid_settings_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        get_settings({"FLAP_THRESHOLD": "0"})
    with pytest.raises(ConfigurationError):
        get_settings({"MAX_BODY_BYTES": "lots"})


def test_tag_paths_read_sentry_style_key_value_pairs() -> None:
    payload = {"data": {"event": {"tags": [["level", "error"], ["Service", " checkout "]]}}}
    assert read_path(payload, "tag:data.event.tags:service") == "checkout"
    assert read_path(payload, "tag:data.event.tags:release") is None
