"""HTTP answers of the API: typed errors become status codes here, and only here."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools import Logger

from incident_core.errors import ConfigurationError, IncidentCoreError

logger = Logger(child=True)

JSON_HEADERS = {"content-type": "application/json"}


def json_response(status_code: int, message: str, **fields: Any) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": JSON_HEADERS,
        "body": json.dumps({"message": message, **fields}),
    }


def error_response(error: IncidentCoreError) -> dict[str, Any]:
    """One-line JSON answer; an operator's misconfiguration is logged, not shown to the caller."""
    if isinstance(error, ConfigurationError):
        logger.error("misconfigured", extra={"reason": error.message})
        return json_response(error.http_status, "the service is not configured correctly; see its logs")
    message = " ".join(error.message.split())
    return json_response(error.http_status, message)


def raw_body(event: dict[str, Any]) -> bytes:
    """The exact request bytes: API Gateway base64-encodes bodies it does not treat as text."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else bytes(body)


def lower_case_headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
