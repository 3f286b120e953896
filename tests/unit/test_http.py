"""HTTP answers: typed errors become status codes in one place, with a one-line JSON `message`; the raw body
is recovered byte-exactly whether API Gateway base64-encoded it or not.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from incident_core.errors import (
    AuthenticationError,
    ConfigurationError,
    Conflict,
    IncidentCoreError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    PortApiError,
    UpstreamError,
)
from incident_core.http import JSON_HEADERS, error_response, json_response, lower_case_headers, raw_body


def _answer(error: IncidentCoreError) -> tuple[int, str, dict[str, Any]]:
    response = error_response(error)
    assert response["headers"] == JSON_HEADERS
    body = json.loads(response["body"])
    assert isinstance(body["message"], str)
    assert "\n" not in body["message"]
    return response["statusCode"], body["message"], body


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (AuthenticationError("missing credentials"), 401),
        (MalformedRequest("alerts[0].fingerprint", "required to identify the alert, but absent"), 400),
        (PayloadTooLarge("the body is 2000000 bytes, more than 1048576"), 413),
        (UpstreamError("the alert queue refused 1 alerts"), 503),
        (PortApiError("Port answered 502", status_code=502), 503),
        (NotFound("no incident inc-1"), 404),
        (Conflict("alert kept changing"), 409),
        (ConfigurationError("the setting ALERTS_TABLE is not set"), 500),
        (IncidentCoreError("something"), 500),
    ],
)
def test_error_response_maps_each_error_to_its_status(error: IncidentCoreError, status: int) -> None:
    code, _, _ = _answer(error)
    assert code == status


def test_authentication_error_says_why() -> None:
    code, message, body = _answer(AuthenticationError("the signature does not match the body"))
    assert (code, message) == (401, "the signature does not match the body")
    assert body == {"message": message}


def test_malformed_request_names_the_field_on_one_line() -> None:
    error = MalformedRequest("alerts[0].startsAt", "not an RFC 3339 time:\n  'yesterday'")
    code, message, _ = _answer(error)

    assert code == 400
    assert message.startswith("alerts[0].startsAt: ")
    assert message == "alerts[0].startsAt: not an RFC 3339 time: 'yesterday'"


def test_payload_too_large_and_upstream_errors_keep_their_sentence() -> None:
    assert _answer(PayloadTooLarge("the body is larger than 1048576 bytes"))[:2] == (
        413,
        "the body is larger than 1048576 bytes",
    )
    assert _answer(UpstreamError("the alert queue refused 2 alerts: throttled"))[:2] == (
        503,
        "the alert queue refused 2 alerts: throttled",
    )


def test_configuration_error_does_not_leak_the_detail() -> None:
    secret_detail = "the setting PORT_CLIENT_SECRET is not set (arn:aws:secretsmanager:us-east-1:123:secret:x)"
    code, message, body = _answer(ConfigurationError(secret_detail))

    assert code == 500
    assert "PORT_CLIENT_SECRET" not in message
    assert "arn:aws" not in message
    assert "secretsmanager" not in json.dumps(body)
    assert message == "the service is not configured correctly; see its logs"


def test_json_response_carries_extra_fields() -> None:
    response = json_response(202, "queued 2 alerts", queued=2, ids=["a", "b"])
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"message": "queued 2 alerts", "queued": 2, "ids": ["a", "b"]}


# --- raw_body -----------------------------------------------------------------------------------------------

BODIES = [
    b'{"alerts": [{"status": "firing"}]}',
    '{"title": "Überlast — 東京 🚨"}'.encode(),
    b'{"spaced":  1 ,\r\n "trailing": true }  \n',
    b"",
]


@pytest.mark.parametrize("body", BODIES)
def test_raw_body_decodes_base64_byte_exactly(body: bytes) -> None:
    event = {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    assert raw_body(event) == body


@pytest.mark.parametrize("body", BODIES)
def test_raw_body_of_a_plain_body_is_its_utf8_bytes(body: bytes) -> None:
    event = {"body": body.decode(), "isBase64Encoded": False}
    assert raw_body(event) == body


def test_raw_body_of_binary_content() -> None:
    binary = bytes(range(256))
    assert raw_body({"body": base64.b64encode(binary).decode(), "isBase64Encoded": True}) == binary


@pytest.mark.parametrize("event", [{}, {"body": None}, {"body": None, "isBase64Encoded": True}])
def test_raw_body_absent_is_empty(event: dict[str, Any]) -> None:
    assert raw_body(event) == b""


def test_raw_body_is_not_decoded_when_not_flagged() -> None:
    encoded = base64.b64encode(b'{"a": 1}').decode()
    assert raw_body({"body": encoded}) == encoded.encode()


def test_lower_case_headers() -> None:
    event = {"headers": {"X-Grafana-Alerting-Signature": "abc", "Content-Type": "application/json"}}
    assert lower_case_headers(event) == {"x-grafana-alerting-signature": "abc", "content-type": "application/json"}
    assert lower_case_headers({"headers": None}) == {}
    assert lower_case_headers({}) == {}
