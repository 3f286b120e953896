"""Webhook authentication, exactly as ../shared/spec/alert-normalization.md describes it.

Secrets are one JSON object keyed by source. A source without an entry, or whose entry offers no
method, is refused (fail closed). Signatures are checked over the raw body bytes; every comparison is
constant-time. A signature header that is present but wrong is a 401 whatever else would verify.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from incident_core.errors import AuthenticationError
from incident_core.models import Source

GRAFANA_SIGNATURE_HEADER = "x-grafana-alerting-signature"
SENTRY_SIGNATURE_HEADER = "sentry-hook-signature"
INGEST_TOKEN_HEADER = "x-ingest-token"  # noqa: S105 - a header name, not a secret
_HMAC_SIGNATURE_HEADERS = {Source.GRAFANA: GRAFANA_SIGNATURE_HEADER, Source.SENTRY: SENTRY_SIGNATURE_HEADER}


class SourceCredentials(BaseModel):
    """One source's entry of the webhook secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = None
    hmac: str | None = None
    basic: str | None = None
    timestampHeader: str = "X-Grafana-Alerting-Timestamp"
    requireTimestamp: bool = False
    toleranceSeconds: int = 300

    @field_validator("token", "hmac")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        """A blank secret is a key everybody has: the method is off, never open."""
        return value if value and value.strip() else None

    @field_validator("basic")
    @classmethod
    def _blank_password_is_none(cls, value: str | None) -> str | None:
        """`user:password`; without a password anybody who knows the user name would pass."""
        return value if value and value.partition(":")[2].strip() else None


class WebhookSecrets(BaseModel):
    """All sources' entries; a source missing here is refused."""

    model_config = ConfigDict(frozen=True)

    sources: dict[Source, SourceCredentials]

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> WebhookSecrets:
        """Accept the documented shape (`{"prometheus": {...}, ...}`); a malformed entry is dropped.

        Dropping fails closed for that source only, so a typo in one tool's entry cannot stop the others.
        """
        sources: dict[Source, SourceCredentials] = {}
        for name in document:
            credentials = _entry(document, name)
            if credentials is not None:
                sources[Source(name)] = credentials
        return cls(sources=sources)


def _entry(document: Mapping[str, Any], name: str) -> SourceCredentials | None:
    """One source's entry of the secret document, validated; None when it is missing or malformed."""
    if name not in _SOURCE_NAMES or name not in document:
        return None
    try:
        return SourceCredentials.model_validate(document[name])
    except ValidationError:
        return None


_SOURCE_NAMES = frozenset(source.value for source in Source)


def verify_webhook(
    source: Source,
    headers: Mapping[str, str],
    body: bytes,
    secrets: WebhookSecrets | Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Raise `AuthenticationError` unless the request carries a valid credential for `source`.

    `headers` have lower-cased names. `secrets` is the parsed model or the secret's JSON document, of which
    only `source`'s entry is read. `now` enables the replay check of Grafana's signed timestamp;
    offline tools pass None.
    """
    credentials = secrets.sources.get(source) if isinstance(secrets, WebhookSecrets) else _entry(secrets, source.value)
    if credentials is None:
        raise AuthenticationError(f"no webhook credentials are configured for {source.value}")

    signature_header = _HMAC_SIGNATURE_HEADERS.get(source)
    if signature_header is not None and credentials.hmac and signature_header in headers:
        _verify_hmac(source, headers, body, credentials, headers[signature_header], now)
        return

    if credentials.token and _presents_token(headers, credentials.token):
        return
    if credentials.basic and _presents_basic(headers, credentials.basic):
        return
    if not (credentials.token or credentials.basic or (signature_header and credentials.hmac)):
        raise AuthenticationError(f"the webhook credentials of {source.value} offer no usable method")
    raise AuthenticationError("missing or wrong webhook credentials")


def _verify_hmac(
    source: Source,
    headers: Mapping[str, str],
    body: bytes,
    credentials: SourceCredentials,
    presented: str,
    now: datetime | None,
) -> None:
    assert credentials.hmac is not None
    message = body
    timestamp: str | None = None
    if source is Source.GRAFANA:
        timestamp = headers.get(credentials.timestampHeader.lower())
        if timestamp is None and credentials.requireTimestamp:
            raise AuthenticationError(f"the signed request lacks the {credentials.timestampHeader} header")
        if timestamp is not None:
            message = timestamp.encode() + b":" + body
    expected = hmac.digest(credentials.hmac.encode(), message, "sha256").hex()
    if not hmac.compare_digest(expected.encode(), presented.strip().lower().encode()):
        raise AuthenticationError("the signature does not match the body")
    if timestamp is not None and now is not None:
        _check_freshness(timestamp, now, credentials.toleranceSeconds)


def _check_freshness(timestamp: str, now: datetime, tolerance_seconds: int) -> None:
    try:
        signed_at = int(timestamp.strip())
    except ValueError as exc:
        raise AuthenticationError("the signed timestamp is not a number") from exc
    if abs(now.timestamp() - signed_at) > tolerance_seconds:
        raise AuthenticationError(f"the signed timestamp is outside {tolerance_seconds} s (replay refused)")


def _presents_token(headers: Mapping[str, str], token: str) -> bool:
    expected = token.encode()
    if _constant_equal(headers.get(INGEST_TOKEN_HEADER, "").strip().encode(), expected):
        return True
    scheme, credential = _authorization(headers)
    if scheme == "bearer":
        return _constant_equal(credential.encode(), expected)
    if scheme == "basic":
        decoded = _decode_basic(credential)
        return decoded is not None and _constant_equal(decoded.partition(b":")[2], expected)
    return False


def _presents_basic(headers: Mapping[str, str], user_and_password: str) -> bool:
    scheme, credential = _authorization(headers)
    if scheme != "basic":
        return False
    decoded = _decode_basic(credential)
    return decoded is not None and _constant_equal(decoded, user_and_password.encode())


def _authorization(headers: Mapping[str, str]) -> tuple[str, str]:
    scheme, _, credential = headers.get("authorization", "").strip().partition(" ")
    return scheme.lower(), credential.strip()


def _decode_basic(credential: str) -> bytes | None:
    try:
        return base64.b64decode(credential, validate=True)
    except (binascii.Error, ValueError):
        return None


def _constant_equal(presented: bytes, expected: bytes) -> bool:
    return bool(presented) and hmac.compare_digest(presented, expected)
