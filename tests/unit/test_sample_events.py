"""The sample requests in events/webhooks/ pass authentication and normalization with the example secrets,
and a changed body or credential makes them fail authentication (../shared/spec/alert-normalization.md).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from incident_core.auth.webhooks import WebhookSecrets, verify_webhook
from incident_core.errors import AuthenticationError
from incident_core.models import Alert, Source
from incident_core.normalizers import normalize
from tests.events import example_secrets, webhook_event, webhook_event_names

SIGNATURE_HEADERS = {Source.GRAFANA: "x-grafana-alerting-signature", Source.SENTRY: "sentry-hook-signature"}
CREDENTIAL_HEADERS = {"authorization", "x-ingest-token", *SIGNATURE_HEADERS.values()}

SAMPLES = [(source, name) for source in Source for name in webhook_event_names(source.value)]
SAMPLE_IDS = [f"{source.value}/{name}" for source, name in SAMPLES]


def _is_signed(source: Source, headers: dict[str, str]) -> bool:
    signature_header = SIGNATURE_HEADERS.get(source)
    return signature_header is not None and signature_header in {name.lower() for name in headers}


def _string_value_offset(body: bytes) -> int:
    """Offset of the first ASCII letter or digit of a JSON string value (not a key, not an escape)."""
    i, n = 0, len(body)
    while i < n:
        if body[i] != ord('"'):
            i += 1
            continue
        j, candidates = i + 1, []
        while body[j] != ord('"'):
            if body[j] == ord("\\"):
                j += 6 if body[j + 1] == ord("u") else 2
                continue
            if chr(body[j]).isascii() and chr(body[j]).isalnum():
                candidates.append(j)
            j += 1
        k = j + 1
        while k < n and body[k] in b" \t\r\n":
            k += 1
        if candidates and not (k < n and body[k] == ord(":")):
            return candidates[0]
        i = j + 1
    raise AssertionError("the body has no string value with a letter or digit")


def _flip_one_byte(body: bytes) -> bytes:
    offset = _string_value_offset(body)
    char = chr(body[offset])
    changed = str((int(char) + 1) % 10) if char.isdigit() else char.swapcase()
    tampered = body[:offset] + changed.encode() + body[offset + 1 :]
    assert len(tampered) == len(body)
    assert sum(a != b for a, b in zip(body, tampered, strict=True)) == 1
    assert json.loads(tampered) != json.loads(body)  # still valid JSON, different content
    return tampered


def _changed(value: str) -> str:
    """A different value of the same form: the last character of the secret part is changed."""

    def bump(text: str) -> str:
        last = text[-1]
        return text[:-1] + ("0" if last != "0" else "1")

    scheme, _, credential = value.partition(" ")
    if credential and scheme.lower() == "basic":
        user, _, password = base64.b64decode(credential).decode().partition(":")
        return f"{scheme} " + base64.b64encode(f"{user}:{bump(password)}".encode()).decode()
    if credential and scheme.lower() == "bearer":
        return f"{scheme} {bump(credential.strip())}"
    return bump(value)


def _credential_names(headers: dict[str, str]) -> list[str]:
    return [name for name in headers if name.lower() in CREDENTIAL_HEADERS]


@pytest.mark.parametrize("source", list(Source))
def test_every_source_has_a_sample(source: Source) -> None:
    assert webhook_event_names(source.value), f"events/webhooks/{source.value}/ has no *.body.json sample"


@pytest.mark.parametrize("source", list(SIGNATURE_HEADERS))
def test_every_signature_source_has_a_signed_sample(source: Source) -> None:
    signed = [
        name for name in webhook_event_names(source.value) if _is_signed(source, webhook_event(source.value, name)[0])
    ]
    assert signed, f"no sample of {source.value} carries {SIGNATURE_HEADERS[source]}"


def test_example_secrets_configure_every_source() -> None:
    secrets = WebhookSecrets.from_json(example_secrets())
    assert set(secrets.sources) == set(Source)


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_passes_normalize_with_the_example_secrets(source: Source, name: str) -> None:
    headers, body = webhook_event(source.value, name)
    alerts = normalize(source, headers, body, example_secrets())
    assert isinstance(alerts, list)
    assert all(isinstance(alert, Alert) and alert.source is source for alert in alerts)


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_carries_a_credential(source: Source, name: str) -> None:
    headers, _ = webhook_event(source.value, name)
    assert _credential_names(headers), f"{source.value}/{name} carries none of {sorted(CREDENTIAL_HEADERS)}"


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=SAMPLE_IDS)
def test_one_flipped_body_byte(source: Source, name: str) -> None:
    """A signed sample is refused; a token-authenticated one still authenticates (a token does not cover
    the body), which is why grafana and sentry sign."""
    headers, body = webhook_event(source.value, name)
    tampered = _flip_one_byte(body)
    if _is_signed(source, headers):
        with pytest.raises(AuthenticationError):
            normalize(source, headers, tampered, example_secrets())
    else:
        lowered = {key.lower(): value for key, value in headers.items()}
        verify_webhook(source, lowered, tampered, WebhookSecrets.from_json(example_secrets()))


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=SAMPLE_IDS)
def test_changed_credential_is_refused(source: Source, name: str) -> None:
    headers, body = webhook_event(source.value, name)
    names = _credential_names(headers)
    assert names
    changed = {**headers, **{key: _changed(headers[key]) for key in names}}
    assert all(changed[key] != headers[key] for key in names)
    with pytest.raises(AuthenticationError):
        normalize(source, changed, body, example_secrets())


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=SAMPLE_IDS)
def test_removed_credential_is_refused(source: Source, name: str) -> None:
    headers, body = webhook_event(source.value, name)
    stripped = {key: value for key, value in headers.items() if key.lower() not in CREDENTIAL_HEADERS}
    with pytest.raises(AuthenticationError):
        normalize(source, stripped, body, example_secrets())


@pytest.mark.parametrize(("source", "name"), SAMPLES, ids=SAMPLE_IDS)
def test_sample_is_refused_under_another_sources_secret(source: Source, name: str) -> None:
    headers, body = webhook_event(source.value, name)
    secrets: dict[str, Any] = example_secrets()
    for other in Source:
        if other is not source:
            secrets[source.value] = secrets[other.value]
            if secrets[source.value] == example_secrets()[source.value]:
                continue
            with pytest.raises(AuthenticationError):
                normalize(source, headers, body, secrets)
