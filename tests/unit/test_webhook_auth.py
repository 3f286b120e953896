"""Authentication of incoming webhooks, as ../shared/spec/alert-normalization.md describes it.

Every path is exercised through `verify_webhook` (lower-cased header names, as its contract says) and the
important ones again through `normalize()`, which lower-cases the names and authenticates before parsing.
The source parsers are replaced by a stub in the `normalize()` tests so they test authentication only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_core.auth.webhooks import WebhookSecrets, verify_webhook
from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models import Alert, Source
from incident_core.normalizers import NORMALIZERS, normalize

BODY = b'{"alerts": [{"status": "firing", "labels": {"alertname": "DiskFull"}}]}'
NOW = datetime(2026, 11, 27, 8, 15, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))

TOKEN = "s3cret-token"
GRAFANA_KEY = "grafana-hmac-key"
SENTRY_KEY = "sentry-client-secret"
LEGACY_BASIC = "grafana:legacy-password"

TOKEN_SOURCES = [Source.PROMETHEUS, Source.DYNATRACE, Source.DATADOG, Source.NEWRELIC]
NON_HMAC_SOURCES = TOKEN_SOURCES
GRAFANA_SIG = "x-grafana-alerting-signature"
GRAFANA_TS = "x-grafana-alerting-timestamp"
SENTRY_SIG = "sentry-hook-signature"


def _secrets(**entries: Any) -> WebhookSecrets:
    return WebhookSecrets.from_json(entries)


def _basic(user: str, password: str, scheme: str = "Basic") -> str:
    return f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _sign(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _grafana_headers(body: bytes = BODY, *, ts: str | None = TS, key: str = GRAFANA_KEY) -> dict[str, str]:
    if ts is None:
        return {GRAFANA_SIG: _sign(key, body)}
    return {GRAFANA_SIG: _sign(key, ts.encode() + b":" + body), GRAFANA_TS: ts}


def _accepts(
    source: Source,
    headers: Mapping[str, str],
    secrets: WebhookSecrets,
    body: bytes = BODY,
    now: datetime | None = None,
) -> None:
    verify_webhook(source, headers, body, secrets, now=now)  # raises AuthenticationError if refused


def _refuses(
    source: Source,
    headers: Mapping[str, str],
    secrets: WebhookSecrets,
    body: bytes = BODY,
    now: datetime | None = None,
) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as excinfo:
        verify_webhook(source, headers, body, secrets, now=now)
    assert excinfo.value.http_status == 401
    assert excinfo.value.message  # a one-line reason
    assert "\n" not in excinfo.value.message
    return excinfo.value


def _flip_byte(body: bytes) -> bytes:
    """The body with one letter of the first string value changed; still valid JSON."""
    index = body.index(b"DiskFull") + 1
    tampered = body[:index] + b"I" + body[index + 1 :]
    assert json.loads(tampered) != json.loads(body)
    return tampered


# --- token -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", TOKEN_SOURCES)
@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {TOKEN}"},
        {"authorization": f"bearer {TOKEN}"},
        {"authorization": f"BEARER {TOKEN}"},
        {"authorization": f"BeArEr   {TOKEN}  "},
        {"x-ingest-token": TOKEN},
        {"x-ingest-token": f" {TOKEN} "},
        {"authorization": _basic("anyone", TOKEN)},
        {"authorization": _basic("", TOKEN)},
        {"authorization": _basic("alertmanager", TOKEN, scheme="basic")},
        {"authorization": _basic("x", TOKEN, scheme="BASIC")},
    ],
    ids=[
        "bearer",
        "bearer-lower",
        "bearer-upper",
        "bearer-mixed-case-extra-spaces",
        "x-ingest-token",
        "x-ingest-token-padded",
        "basic-any-user",
        "basic-empty-user",
        "basic-lower-scheme",
        "basic-upper-scheme",
    ],
)
def test_token_is_accepted_in_every_documented_place(source: Source, headers: dict[str, str]) -> None:
    _accepts(source, headers, _secrets(**{source.value: {"token": TOKEN}}))


@pytest.mark.parametrize("source", TOKEN_SOURCES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-token"},
        {"authorization": f"Bearer {TOKEN}x"},
        {"authorization": f"Bearer {TOKEN[:-1]}"},
        {"authorization": f"Bearer {TOKEN.upper()}"},
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": TOKEN},
        {"authorization": f"Token {TOKEN}"},
        {"x-ingest-token": "wrong-token"},
        {"x-ingest-token": ""},
        {"x-other-token": TOKEN},
        {"authorization": _basic("user", "wrong-token")},
        {"authorization": _basic(TOKEN, "wrong-token")},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": "Basic !!!not-base64!!!"},
        {"authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},
    ],
    ids=[
        "nothing",
        "wrong-bearer",
        "bearer-with-suffix",
        "bearer-prefix-only",
        "bearer-wrong-case",
        "bearer-without-credential",
        "bearer-empty-credential",
        "token-without-scheme",
        "unknown-scheme",
        "wrong-x-ingest-token",
        "empty-x-ingest-token",
        "token-in-undocumented-header",
        "basic-wrong-password",
        "basic-token-as-user",
        "basic-not-encoded",
        "basic-not-base64",
        "basic-without-colon",
    ],
)
def test_wrong_or_missing_token_is_refused(source: Source, headers: dict[str, str]) -> None:
    _refuses(source, headers, _secrets(**{source.value: {"token": TOKEN}}))


def test_a_token_configured_for_another_source_does_not_authenticate() -> None:
    secrets = _secrets(prometheus={"token": TOKEN}, datadog={"token": "datadog-token"})
    _refuses(Source.DATADOG, {"authorization": f"Bearer {TOKEN}"}, secrets)
    _accepts(Source.DATADOG, {"authorization": "Bearer datadog-token"}, secrets)


# --- basic user:password (legacy Grafana) ----------------------------------------------------------


def test_basic_user_and_password_is_accepted() -> None:
    secrets = _secrets(grafana={"basic": LEGACY_BASIC})
    _accepts(Source.GRAFANA, {"authorization": _basic("grafana", "legacy-password")}, secrets)
    _accepts(Source.GRAFANA, {"authorization": _basic("grafana", "legacy-password", "basic")}, secrets)


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": _basic("admin", "legacy-password")},
        {"authorization": _basic("grafana", "wrong-password")},
        {"authorization": _basic("Grafana", "legacy-password")},
        {"authorization": _basic("", "legacy-password")},
        {"authorization": _basic("grafana", "legacy-password") + "="},
        {"authorization": f"Bearer {LEGACY_BASIC}"},
        {"authorization": "Bearer legacy-password"},
        {"x-ingest-token": "legacy-password"},
        {"x-ingest-token": LEGACY_BASIC},
        {},
    ],
    ids=[
        "wrong-user",
        "wrong-password",
        "user-wrong-case",
        "empty-user",
        "broken-base64",
        "bearer-user-password",
        "bearer-password",
        "ingest-password",
        "ingest-user-password",
        "nothing",
    ],
)
def test_basic_refuses_anything_but_the_exact_user_and_password(headers: dict[str, str]) -> None:
    _refuses(Source.GRAFANA, headers, _secrets(grafana={"basic": LEGACY_BASIC}))


# --- Grafana HMAC ----------------------------------------------------------------------------------


def test_grafana_signature_over_timestamp_and_body() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _accepts(Source.GRAFANA, _grafana_headers(), secrets)
    _accepts(Source.GRAFANA, _grafana_headers(), secrets, now=NOW)


def test_grafana_signature_over_body_alone_without_timestamp_header() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _accepts(Source.GRAFANA, _grafana_headers(ts=None), secrets)
    _accepts(Source.GRAFANA, _grafana_headers(ts=None), secrets, now=NOW)


def test_grafana_body_signature_does_not_verify_when_a_timestamp_is_present() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    headers = {GRAFANA_SIG: _sign(GRAFANA_KEY, BODY), GRAFANA_TS: TS}
    _refuses(Source.GRAFANA, headers, secrets)


def test_grafana_stripping_the_timestamp_header_does_not_help() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    headers = _grafana_headers()
    del headers[GRAFANA_TS]
    _refuses(Source.GRAFANA, headers, secrets)
    _refuses(Source.GRAFANA, headers, secrets, now=NOW)


def test_grafana_changed_timestamp_does_not_verify() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    headers = _grafana_headers()
    headers[GRAFANA_TS] = str(int(TS) + 1)
    _refuses(Source.GRAFANA, headers, secrets)


def test_grafana_wrong_key_does_not_verify() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _refuses(Source.GRAFANA, _grafana_headers(key="another-key"), secrets)
    _refuses(Source.GRAFANA, _grafana_headers(ts=None, key="another-key"), secrets)


def test_grafana_custom_timestamp_header_name() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "timestampHeader": "X-Signed-At"})
    signature = _sign(GRAFANA_KEY, TS.encode() + b":" + BODY)
    _accepts(Source.GRAFANA, {GRAFANA_SIG: signature, "x-signed-at": TS}, secrets, now=NOW)
    # The default name is no longer the timestamp: the signature would then have to cover the body alone.
    _refuses(Source.GRAFANA, {GRAFANA_SIG: signature, GRAFANA_TS: TS}, secrets)
    _accepts(Source.GRAFANA, {GRAFANA_SIG: _sign(GRAFANA_KEY, BODY), GRAFANA_TS: TS}, secrets)


def test_grafana_custom_timestamp_header_is_replay_checked() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "timestampHeader": "X-Signed-At"})
    old = str(int(TS) - 3600)
    headers = {GRAFANA_SIG: _sign(GRAFANA_KEY, old.encode() + b":" + BODY), "x-signed-at": old}
    _refuses(Source.GRAFANA, headers, secrets, now=NOW)
    _accepts(Source.GRAFANA, headers, secrets, now=None)


@pytest.mark.parametrize("age", [301, 3600, 86_400 * 30])
def test_grafana_replayed_timestamp_is_refused_on_the_live_path(age: int) -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    headers = _grafana_headers(ts=str(int(TS) - age))
    error = _refuses(Source.GRAFANA, headers, secrets, now=NOW)
    assert "replay" in error.message


@pytest.mark.parametrize("age", [0, 1, 299, 300])
def test_grafana_timestamp_within_tolerance_is_accepted(age: int) -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _accepts(Source.GRAFANA, _grafana_headers(ts=str(int(TS) - age)), secrets, now=NOW)


def test_grafana_replayed_timestamp_is_accepted_offline() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _accepts(Source.GRAFANA, _grafana_headers(ts=str(int(TS) - 86_400 * 365)), secrets, now=None)


def test_grafana_tolerance_is_configurable() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "toleranceSeconds": 10})
    _accepts(Source.GRAFANA, _grafana_headers(ts=str(int(TS) - 10)), secrets, now=NOW)
    _refuses(Source.GRAFANA, _grafana_headers(ts=str(int(TS) - 11)), secrets, now=NOW)


@pytest.mark.parametrize("ts", ["not-a-number", "", "1.5e9"])
def test_grafana_signed_but_unreadable_timestamp_is_refused_on_the_live_path(ts: str) -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _refuses(Source.GRAFANA, _grafana_headers(ts=ts), secrets, now=NOW)


def test_grafana_require_timestamp_refuses_a_body_only_signature() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "requireTimestamp": True})
    _refuses(Source.GRAFANA, _grafana_headers(ts=None), secrets)
    _refuses(Source.GRAFANA, _grafana_headers(ts=None), secrets, now=NOW)
    _accepts(Source.GRAFANA, _grafana_headers(), secrets, now=NOW)


def test_grafana_require_timestamp_still_refuses_a_replay() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "requireTimestamp": True})
    _refuses(Source.GRAFANA, _grafana_headers(ts=str(int(TS) - 3600)), secrets, now=NOW)


# --- Sentry HMAC -----------------------------------------------------------------------------------


def test_sentry_signature_over_the_body() -> None:
    secrets = _secrets(sentry={"hmac": SENTRY_KEY})
    _accepts(Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}, secrets)
    _accepts(Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}, secrets, now=NOW)


def test_sentry_timestamp_is_not_part_of_the_signature() -> None:
    secrets = _secrets(sentry={"hmac": SENTRY_KEY})
    headers = {SENTRY_SIG: _sign(SENTRY_KEY, BODY), "sentry-hook-timestamp": TS}
    _accepts(Source.SENTRY, headers, secrets, now=NOW)
    signed_with_timestamp = {
        SENTRY_SIG: _sign(SENTRY_KEY, TS.encode() + b":" + BODY),
        "sentry-hook-timestamp": TS,
    }
    _refuses(Source.SENTRY, signed_with_timestamp, secrets)


def test_sentry_ignores_the_grafana_timestamp_options() -> None:
    secrets = _secrets(
        sentry={"hmac": SENTRY_KEY, "requireTimestamp": True, "timestampHeader": "Sentry-Hook-Timestamp"}
    )
    old = str(int(TS) - 3600)
    headers = {SENTRY_SIG: _sign(SENTRY_KEY, BODY), "sentry-hook-timestamp": old, GRAFANA_TS: old}
    _accepts(Source.SENTRY, headers, secrets, now=NOW)
    _accepts(Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}, secrets, now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SENTRY_SIG: ""},
        {SENTRY_SIG: _sign("another-secret", BODY)},
        {SENTRY_SIG: "0" * 64},
        {SENTRY_SIG: _sign(SENTRY_KEY, BODY)[:-1]},
        {SENTRY_SIG: "sha256=" + _sign(SENTRY_KEY, BODY)},
        {GRAFANA_SIG: _sign(SENTRY_KEY, BODY)},
        {"authorization": f"Bearer {SENTRY_KEY}"},
        {"x-ingest-token": SENTRY_KEY},
    ],
    ids=[
        "nothing",
        "empty",
        "wrong-key",
        "zeros",
        "truncated",
        "prefixed",
        "grafana-header",
        "secret-as-bearer",
        "secret-as-ingest-token",
    ],
)
def test_sentry_refuses_anything_but_the_body_signature(headers: dict[str, str]) -> None:
    _refuses(Source.SENTRY, headers, _secrets(sentry={"hmac": SENTRY_KEY}))


def test_grafana_refuses_the_hmac_key_presented_as_a_token() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY})
    _refuses(Source.GRAFANA, {"authorization": f"Bearer {GRAFANA_KEY}"}, secrets)
    _refuses(Source.GRAFANA, {"x-ingest-token": GRAFANA_KEY}, secrets)
    _refuses(Source.GRAFANA, {SENTRY_SIG: _sign(GRAFANA_KEY, BODY)}, secrets)


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        (
            Source.GRAFANA,
            {GRAFANA_SIG: _sign(GRAFANA_KEY, TS.encode() + b":" + BODY).upper(), GRAFANA_TS: TS},
        ),
        (Source.GRAFANA, {GRAFANA_SIG: _sign(GRAFANA_KEY, BODY).upper()}),
        (Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY).upper()}),
        (Source.SENTRY, {SENTRY_SIG: f" {_sign(SENTRY_KEY, BODY)} "}),
    ],
    ids=["grafana-timestamped", "grafana-body", "sentry", "sentry-padded"],
)
def test_hex_digest_compares_case_insensitively(source: Source, headers: dict[str, str]) -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY}, sentry={"hmac": SENTRY_KEY})
    _accepts(source, headers, secrets, now=NOW)


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        (Source.GRAFANA, _grafana_headers()),
        (Source.GRAFANA, _grafana_headers(ts=None)),
        (Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}),
    ],
    ids=["grafana-timestamped", "grafana-body", "sentry"],
)
def test_a_tampered_body_byte_is_refused(source: Source, headers: dict[str, str]) -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY}, sentry={"hmac": SENTRY_KEY})
    _accepts(source, headers, secrets)
    _refuses(source, headers, secrets, body=_flip_byte(BODY))
    _refuses(source, headers, secrets, body=BODY + b" ")
    _refuses(source, headers, secrets, body=BODY[:-1])


# --- several methods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "entry", "signature_headers"),
    [
        (Source.GRAFANA, {"hmac": GRAFANA_KEY, "token": TOKEN}, {GRAFANA_SIG: "0" * 64, GRAFANA_TS: TS}),
        (Source.GRAFANA, {"hmac": GRAFANA_KEY, "token": TOKEN}, {GRAFANA_SIG: _sign(GRAFANA_KEY, b"other")}),
        (Source.GRAFANA, {"hmac": GRAFANA_KEY, "token": TOKEN}, {GRAFANA_SIG: ""}),
        (Source.SENTRY, {"hmac": SENTRY_KEY, "token": TOKEN}, {SENTRY_SIG: _sign(SENTRY_KEY, b"other")}),
    ],
    ids=["grafana-zeros", "grafana-other-body", "grafana-empty", "sentry-other-body"],
)
@pytest.mark.parametrize(
    "token_headers",
    [{"authorization": f"Bearer {TOKEN}"}, {"x-ingest-token": TOKEN}, {"authorization": _basic("u", TOKEN)}],
    ids=["bearer", "ingest", "basic"],
)
def test_a_wrong_signature_is_refused_even_with_a_valid_token(
    source: Source, entry: dict[str, str], signature_headers: dict[str, str], token_headers: dict[str, str]
) -> None:
    secrets = _secrets(**{source.value: entry})
    _accepts(source, token_headers, secrets)  # the token alone verifies ...
    _refuses(source, {**token_headers, **signature_headers}, secrets)  # ... but cannot rescue a bad signature


def test_a_wrong_grafana_signature_is_refused_even_with_valid_basic() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "basic": LEGACY_BASIC})
    basic = {"authorization": _basic("grafana", "legacy-password")}
    _accepts(Source.GRAFANA, basic, secrets)
    _refuses(Source.GRAFANA, {**basic, **_grafana_headers(key="wrong")}, secrets)
    _refuses(Source.GRAFANA, {**basic, **_grafana_headers()}, secrets, body=_flip_byte(BODY))


def test_a_replayed_grafana_signature_is_refused_even_with_a_valid_token() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "token": TOKEN})
    headers = {"authorization": f"Bearer {TOKEN}", **_grafana_headers(ts=str(int(TS) - 3600))}
    _refuses(Source.GRAFANA, headers, secrets, now=NOW)


def test_any_configured_method_that_verifies_is_accepted() -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY, "token": TOKEN, "basic": LEGACY_BASIC})
    _accepts(Source.GRAFANA, _grafana_headers(), secrets, now=NOW)
    _accepts(Source.GRAFANA, {"authorization": f"Bearer {TOKEN}"}, secrets)
    _accepts(Source.GRAFANA, {"x-ingest-token": TOKEN}, secrets)
    _accepts(Source.GRAFANA, {"authorization": _basic("someone", TOKEN)}, secrets)
    _accepts(Source.GRAFANA, {"authorization": _basic("grafana", "legacy-password")}, secrets)
    _refuses(Source.GRAFANA, {"authorization": _basic("grafana", "wrong")}, secrets)


# --- fail closed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", list(Source))
def test_a_source_without_an_entry_is_refused(source: Source) -> None:
    others = {s.value: {"token": TOKEN, "hmac": GRAFANA_KEY} for s in Source if s is not source}
    headers = {"authorization": f"Bearer {TOKEN}", "x-ingest-token": TOKEN}
    _refuses(source, headers, _secrets(**others))
    _refuses(source, headers, _secrets())


@pytest.mark.parametrize("source", list(Source))
@pytest.mark.parametrize(
    "entry",
    [{}, {"token": ""}, {"basic": ""}, {"hmac": ""}, {"timestampHeader": "X-Ts", "requireTimestamp": True}],
    ids=["empty", "empty-token", "empty-basic", "empty-hmac", "options-only"],
)
def test_an_entry_without_a_usable_method_is_refused(source: Source, entry: dict[str, Any]) -> None:
    secrets = _secrets(**{source.value: entry})
    for headers in (
        {},
        {"authorization": "Bearer "},
        {"x-ingest-token": ""},
        {"authorization": _basic("", "")},
        {GRAFANA_SIG: _sign("", BODY), SENTRY_SIG: _sign("", BODY)},
    ):
        _refuses(source, headers, secrets)


@pytest.mark.parametrize("source", NON_HMAC_SOURCES)
def test_hmac_for_a_source_other_than_grafana_or_sentry_authenticates_nothing(source: Source) -> None:
    key = "hmac-key"
    secrets = _secrets(**{source.value: {"hmac": key}})
    for headers in (
        {},
        {GRAFANA_SIG: _sign(key, BODY)},
        {GRAFANA_SIG: _sign(key, TS.encode() + b":" + BODY), GRAFANA_TS: TS},
        {SENTRY_SIG: _sign(key, BODY)},
        {"authorization": f"Bearer {key}"},
        {"x-ingest-token": key},
        {"authorization": _basic("u", key)},
    ):
        _refuses(source, headers, secrets)


@pytest.mark.parametrize("source", NON_HMAC_SOURCES)
def test_hmac_beside_a_token_leaves_only_the_token(source: Source) -> None:
    secrets = _secrets(**{source.value: {"hmac": "hmac-key", "token": TOKEN}})
    _accepts(source, {"authorization": f"Bearer {TOKEN}"}, secrets)
    _refuses(source, {SENTRY_SIG: _sign("hmac-key", BODY)}, secrets)


@pytest.mark.parametrize(
    "bad_entry",
    [
        {"tokn": TOKEN},
        {"token": TOKEN, "unexpected": True},
        {"token": 12345},
        {"token": [TOKEN]},
        {"token": TOKEN, "toleranceSeconds": "soon"},
        {"hmac": {"key": GRAFANA_KEY}},
        TOKEN,
        None,
        [TOKEN],
    ],
    ids=[
        "misspelled-key",
        "extra-key",
        "int-token",
        "list-token",
        "bad-tolerance",
        "object-hmac",
        "string-entry",
        "null-entry",
        "list-entry",
    ],
)
def test_a_malformed_entry_fails_closed_for_its_source_only(bad_entry: Any) -> None:
    document = {
        "prometheus": bad_entry,
        "datadog": {"token": "datadog-token"},
        "grafana": {"hmac": GRAFANA_KEY},
        "sentry": {"hmac": SENTRY_KEY},
        "zabbix": {"token": TOKEN},  # not a source: ignored, harms nobody
    }
    secrets = WebhookSecrets.from_json(document)
    for headers in (
        {"authorization": f"Bearer {TOKEN}"},
        {"x-ingest-token": TOKEN},
        {"authorization": _basic("u", TOKEN)},
        {},
    ):
        _refuses(Source.PROMETHEUS, headers, secrets)
    _accepts(Source.DATADOG, {"authorization": "Bearer datadog-token"}, secrets)
    _accepts(Source.GRAFANA, _grafana_headers(), secrets, now=NOW)
    _accepts(Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}, secrets)
    _refuses(Source.DYNATRACE, {"authorization": f"Bearer {TOKEN}"}, secrets)


def test_a_malformed_grafana_option_fails_closed_for_grafana_only() -> None:
    secrets = WebhookSecrets.from_json(
        {
            "grafana": {"hmac": GRAFANA_KEY, "timestampHeader": 42},
            "sentry": {"hmac": SENTRY_KEY},
        }
    )
    _refuses(Source.GRAFANA, _grafana_headers(), secrets)
    _refuses(Source.GRAFANA, _grafana_headers(ts=None), secrets)
    _accepts(Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}, secrets)


# --- constant time ---------------------------------------------------------------------------------


class _CompareSpy:
    def __init__(self, real: Callable[[bytes, bytes], bool], answer: bool | None = None) -> None:
        self.real = real
        self.answer = answer
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, a: Any, b: Any) -> bool:
        self.calls.append((a, b))
        result = self.real(a, b)
        return result if self.answer is None else self.answer


@pytest.fixture
def compare_spy(monkeypatch: pytest.MonkeyPatch) -> _CompareSpy:
    spy = _CompareSpy(hmac.compare_digest)
    monkeypatch.setattr("incident_core.auth.webhooks.hmac.compare_digest", spy)
    return spy


@pytest.mark.parametrize(
    ("entry", "headers", "expected"),
    [
        ({"token": TOKEN}, {"authorization": f"Bearer {TOKEN}"}, TOKEN.encode()),
        ({"token": TOKEN}, {"x-ingest-token": TOKEN}, TOKEN.encode()),
        ({"token": TOKEN}, {"authorization": _basic("u", TOKEN)}, TOKEN.encode()),
        (
            {"basic": LEGACY_BASIC},
            {"authorization": _basic("grafana", "legacy-password")},
            LEGACY_BASIC.encode(),
        ),
    ],
    ids=["bearer", "ingest", "basic-token", "basic-user-password"],
)
def test_credentials_are_compared_with_compare_digest(
    compare_spy: _CompareSpy, entry: dict[str, str], headers: dict[str, str], expected: bytes
) -> None:
    secrets = _secrets(grafana=entry)
    _accepts(Source.GRAFANA, headers, secrets)
    assert (expected, expected) in compare_spy.calls


def test_a_wrong_token_is_compared_with_compare_digest(compare_spy: _CompareSpy) -> None:
    _refuses(Source.PROMETHEUS, {"authorization": "Bearer wrong-token"}, _secrets(prometheus={"token": TOKEN}))
    assert (b"wrong-token", TOKEN.encode()) in compare_spy.calls


@pytest.mark.parametrize(
    ("source", "headers", "expected"),
    [
        (Source.GRAFANA, _grafana_headers(), _grafana_headers()[GRAFANA_SIG].encode()),
        (Source.GRAFANA, _grafana_headers(ts=None), _sign(GRAFANA_KEY, BODY).encode()),
        (Source.SENTRY, {SENTRY_SIG: _sign(SENTRY_KEY, BODY).upper()}, _sign(SENTRY_KEY, BODY).encode()),
    ],
    ids=["grafana-timestamped", "grafana-body", "sentry-upper"],
)
def test_signatures_are_compared_with_compare_digest(
    compare_spy: _CompareSpy, source: Source, headers: dict[str, str], expected: bytes
) -> None:
    secrets = _secrets(grafana={"hmac": GRAFANA_KEY}, sentry={"hmac": SENTRY_KEY})
    _accepts(source, headers, secrets)
    assert compare_spy.calls == [(expected, expected)]

    compare_spy.calls.clear()
    _refuses(source, headers, secrets, body=_flip_byte(BODY))
    assert len(compare_spy.calls) == 1
    assert compare_spy.calls[0][1] == expected


@pytest.mark.parametrize(
    ("source", "entry", "headers"),
    [
        (Source.PROMETHEUS, {"token": TOKEN}, {"authorization": f"Bearer {TOKEN}"}),
        (Source.PROMETHEUS, {"token": TOKEN}, {"x-ingest-token": TOKEN}),
        (Source.PROMETHEUS, {"token": TOKEN}, {"authorization": _basic("u", TOKEN)}),
        (Source.GRAFANA, {"basic": LEGACY_BASIC}, {"authorization": _basic("grafana", "legacy-password")}),
        (Source.GRAFANA, {"hmac": GRAFANA_KEY}, _grafana_headers()),
        (Source.SENTRY, {"hmac": SENTRY_KEY}, {SENTRY_SIG: _sign(SENTRY_KEY, BODY)}),
    ],
    ids=["bearer", "ingest", "basic-token", "basic-user-password", "grafana-hmac", "sentry-hmac"],
)
def test_compare_digest_decides_every_check(
    monkeypatch: pytest.MonkeyPatch, source: Source, entry: dict[str, str], headers: dict[str, str]
) -> None:
    secrets = _secrets(**{source.value: entry})
    _accepts(source, headers, secrets)
    spy = _CompareSpy(hmac.compare_digest, answer=False)
    monkeypatch.setattr("incident_core.auth.webhooks.hmac.compare_digest", spy)
    _refuses(source, headers, secrets)
    assert spy.calls


# --- through normalize() ---------------------------------------------------------------------------

STUB_RESULT: list[Alert] = []


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[Source]:
    """Replace every source parser with a stub that records which source was parsed."""
    calls: list[Source] = []
    for source in Source:

        def stub(headers: Mapping[str, str], payload: dict[str, Any], /, source: Source = source) -> list[Alert]:
            assert all(name == name.lower() for name in headers)
            calls.append(source)
            return STUB_RESULT

        monkeypatch.setitem(NORMALIZERS, source, stub)
    return calls


SECRETS_DOC: dict[str, Any] = {
    "prometheus": {"token": TOKEN},
    "grafana": {"hmac": GRAFANA_KEY, "basic": LEGACY_BASIC},
    "dynatrace": {"token": "dynatrace-token"},
    "datadog": {"token": "datadog-token"},
    "newrelic": {"token": "newrelic-token"},
    "sentry": {"hmac": SENTRY_KEY},
}


@pytest.mark.parametrize("as_model", [False, True], ids=["json", "model"])
@pytest.mark.parametrize(
    ("source", "headers"),
    [
        ("prometheus", {"Authorization": f"Bearer {TOKEN}"}),
        ("prometheus", {"AUTHORIZATION": f"bearer {TOKEN}"}),
        ("prometheus", {"X-Ingest-Token": TOKEN}),
        ("prometheus", {"x-INGEST-token": TOKEN}),
        ("prometheus", {"Authorization": _basic("am", TOKEN)}),
        ("dynatrace", {"Authorization": "Bearer dynatrace-token"}),
        ("datadog", {"X-Ingest-Token": "datadog-token"}),
        ("newrelic", {"authorization": _basic("nr", "newrelic-token", "BASIC")}),
        ("grafana", {"X-Grafana-Alerting-Signature": _sign(GRAFANA_KEY, BODY)}),
        (
            "grafana",
            {
                "X-GRAFANA-ALERTING-SIGNATURE": _sign(GRAFANA_KEY, TS.encode() + b":" + BODY),
                "X-Grafana-Alerting-Timestamp": TS,
            },
        ),
        ("grafana", {"Authorization": _basic("grafana", "legacy-password")}),
        ("sentry", {"Sentry-Hook-Signature": _sign(SENTRY_KEY, BODY).upper(), "Sentry-Hook-Timestamp": TS}),
    ],
)
def test_normalize_authenticates_with_any_header_case(
    parsed: list[Source], source: str, headers: dict[str, str], as_model: bool
) -> None:
    secrets: Any = WebhookSecrets.from_json(SECRETS_DOC) if as_model else SECRETS_DOC
    assert normalize(source, headers, BODY, secrets, now=NOW) is STUB_RESULT
    assert parsed == [Source(source)]


@pytest.mark.parametrize(
    ("source", "headers", "body"),
    [
        ("prometheus", {"Authorization": "Bearer wrong"}, BODY),
        ("prometheus", {"Authorization": "Bearer datadog-token"}, BODY),
        ("prometheus", {}, BODY),
        ("datadog", {"X-Ingest-Token": TOKEN}, BODY),
        ("grafana", {"Authorization": _basic("admin", "legacy-password")}, BODY),
        ("grafana", {"X-Grafana-Alerting-Signature": _sign(GRAFANA_KEY, BODY)}, _flip_byte(BODY)),
        (
            "grafana",
            {
                "X-Grafana-Alerting-Signature": _sign(GRAFANA_KEY, BODY),
                "Authorization": _basic("grafana", "legacy-password"),
            },
            _flip_byte(BODY),
        ),
        ("sentry", {"SENTRY-HOOK-SIGNATURE": _sign(SENTRY_KEY, BODY)}, _flip_byte(BODY)),
        ("sentry", {"Authorization": f"Bearer {SENTRY_KEY}"}, BODY),
    ],
)
def test_normalize_refuses_before_parsing(
    parsed: list[Source], source: str, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(AuthenticationError):
        normalize(source, headers, body, SECRETS_DOC, now=NOW)
    assert parsed == []


def test_normalize_authenticates_the_raw_bytes_before_reading_json(parsed: list[Source]) -> None:
    with pytest.raises(AuthenticationError):
        normalize("prometheus", {"Authorization": "Bearer wrong"}, b"not json", SECRETS_DOC)
    with pytest.raises(MalformedRequest):
        normalize("prometheus", {"Authorization": f"Bearer {TOKEN}"}, b"not json", SECRETS_DOC)
    assert parsed == []


def test_normalize_checks_the_grafana_timestamp_against_now(parsed: list[Source]) -> None:
    old = str(int(TS) - 3600)
    headers = {
        "X-Grafana-Alerting-Signature": _sign(GRAFANA_KEY, old.encode() + b":" + BODY),
        "X-Grafana-Alerting-Timestamp": old,
    }
    with pytest.raises(AuthenticationError):
        normalize("grafana", headers, BODY, SECRETS_DOC, now=NOW)
    assert normalize("grafana", headers, BODY, SECRETS_DOC, now=None) is STUB_RESULT
    assert normalize("grafana", headers, BODY, SECRETS_DOC, now=NOW - timedelta(seconds=3600)) is STUB_RESULT


def test_normalize_custom_timestamp_header_is_case_insensitive(parsed: list[Source]) -> None:
    document = {"grafana": {"hmac": GRAFANA_KEY, "timestampHeader": "X-Signed-At", "requireTimestamp": True}}
    headers = {
        "X-GRAFANA-Alerting-Signature": _sign(GRAFANA_KEY, TS.encode() + b":" + BODY),
        "x-SIGNED-at": TS,
    }
    assert normalize("grafana", headers, BODY, document, now=NOW) is STUB_RESULT
    with pytest.raises(AuthenticationError):
        normalize("grafana", {"X-Grafana-Alerting-Signature": _sign(GRAFANA_KEY, BODY)}, BODY, document, now=NOW)


def test_normalize_with_a_malformed_entry_fails_closed_for_that_source_only(parsed: list[Source]) -> None:
    document = {**SECRETS_DOC, "prometheus": {"token": TOKEN, "tokenn": TOKEN}}
    with pytest.raises(AuthenticationError):
        normalize("prometheus", {"Authorization": f"Bearer {TOKEN}"}, BODY, document)
    assert normalize("datadog", {"Authorization": "Bearer datadog-token"}, BODY, document) is STUB_RESULT
    assert parsed == [Source.DATADOG]


def test_normalize_without_an_entry_fails_closed(parsed: list[Source]) -> None:
    document = {k: v for k, v in SECRETS_DOC.items() if k != "newrelic"}
    with pytest.raises(AuthenticationError):
        normalize("newrelic", {"Authorization": "Bearer newrelic-token"}, BODY, document)
    with pytest.raises(AuthenticationError):
        normalize("newrelic", {"Authorization": "Bearer newrelic-token"}, BODY, {})
    assert parsed == []


def test_normalize_without_secrets_does_not_authenticate(parsed: list[Source]) -> None:
    assert normalize("prometheus", {}, BODY, None) is STUB_RESULT
