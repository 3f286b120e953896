"""Port's signature on self-service action requests (webhook invocation).

Port sends `x-port-timestamp` (epoch seconds) and `x-port-signature: v1,<base64 HMAC-SHA256(client secret,
"<timestamp>.<raw body>")>`. The signature is checked over the exact bytes received, in constant time,
and a timestamp outside the tolerance is a replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from incident_core.auth.keys import usable_secret
from incident_core.errors import AuthenticationError

TIMESTAMP_HEADER = "x-port-timestamp"
SIGNATURE_HEADER = "x-port-signature"
TOLERANCE_SECONDS = 300


def port_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_port_signature(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    now: datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Raise `AuthenticationError` unless the request was signed by Port with `secret` just now.

    `headers` have lower-cased names. An empty secret refuses everything (fail closed).
    """
    usable_secret(secret, "Port client")
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    presented = headers.get(SIGNATURE_HEADER, "").strip()
    if not timestamp or not presented:
        raise AuthenticationError("the request is not signed by Port")
    try:
        signed_at = int(timestamp)
    except ValueError as exc:
        raise AuthenticationError("the Port timestamp is not a number") from exc
    version, _, signatures = presented.partition(",")
    if version.strip() != "v1" or not signatures.strip():
        raise AuthenticationError("the Port signature is not a v1 signature (v1,<signature>)")
    expected = port_signature(secret, timestamp, body)
    # Several comma-separated v1 signatures may come (a secret being rotated); any one that matches counts.
    candidates = [f"v1,{part.strip()}" for part in signatures.split(",")]
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates):
        raise AuthenticationError("the Port signature does not match the body")
    if abs(now.timestamp() - signed_at) > tolerance_seconds:
        raise AuthenticationError(f"the Port timestamp is outside {tolerance_seconds} s (replay refused)")
