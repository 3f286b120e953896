"""Identifiers safe in every path, signature versions checked, and secrets that are empty once trimmed refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from incident_core.auth.port_signature import port_signature, verify_port_signature
from incident_core.auth.webhooks import WebhookSecrets, verify_webhook
from incident_core.errors import AuthenticationError, MalformedRequest
from incident_core.models import Source
from incident_core.models.action import parse_action_run
from incident_core.models.incident import LifecycleStep, ProviderName
from incident_core.port.client import PortClient
from incident_core.providers.http import VendorHttp
from incident_core.providers.incidentio.webhook import WEBHOOK as INCIDENTIO_WEBHOOK
from incident_core.providers.registry import ProviderContext, provider_for
from incident_core.support.urls import is_path_segment, unsafe_segment
from incident_core.usecases.provider_sync import receive_provider_webhook
from tests.providers import sample_incident

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
UNSAFE = ["", ".", ".."]


# URL paths


def test_only_empty_dot_and_dot_dot_cannot_be_path_segments() -> None:
    assert [
        identifier for identifier in ["", ".", "..", "...", "a/b", "%2e%2e", "r_1"] if not is_path_segment(identifier)
    ] == UNSAFE


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("/v1/actions/runs/..", ".."),
        ("/v1/actions/runs/.", "."),
        ("/v1/actions/runs/", ""),
        ("/v1//logs", ""),
        ("/v1/%2E%2E/x", "%2E%2E"),
        ("https://hooks.example/services/../x", ".."),
        ("/", None),
        ("", None),
        ("/v1/runs/r_1?next=..", None),
        ("/v1/x/a%2Fb", None),
        ("/v1/%252e%252e", None),
        ("/v1/...", None),
        ("https://hooks.example/T/B", None),
    ],
)
def test_the_unsafe_segment_of_a_path_is_found(path: str, segment: str | None) -> None:
    assert unsafe_segment(path) == segment


class Recorder:
    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or {"ok": True}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/auth/access_token"):
            return httpx.Response(200, json={"accessToken": "t", "expiresIn": 3600})
        return httpx.Response(200, json=self.answer)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.mark.parametrize("run_id", UNSAFE)
def test_port_is_never_sent_a_run_id_that_leaves_its_segment(run_id: str) -> None:
    recorder = Recorder()
    port = PortClient(
        "https://api.port.example", "id", "secret", http=httpx.Client(transport=httpx.MockTransport(recorder))
    )
    with pytest.raises(MalformedRequest):
        port.patch_run(run_id, status="SUCCESS")
    with pytest.raises(MalformedRequest):
        port.add_run_log(run_id, "done")
    assert not [r for r in recorder.requests if "/runs" in r.url.path]


def test_no_vendor_request_leaves_with_a_dot_segment() -> None:
    recorder = Recorder()
    vendor = VendorHttp("Vendor", httpx.Client(base_url="https://vendor.example", transport=recorder.transport()))
    with pytest.raises(MalformedRequest):
        vendor.request("PUT", "/incidents/..")
    assert recorder.requests == []


CREDENTIALS: dict[ProviderName, dict[str, Any]] = {
    ProviderName.PAGERDUTY: {"apiKey": "k", "fromEmail": "bot@example.com", "serviceId": "PSVC"},
    ProviderName.OPSGENIE: {"apiKey": "k", "appUrl": "https://acme.app.opsgenie.com"},
    ProviderName.SERVICENOW: {"instanceUrl": "https://acme.service-now.com", "username": "u", "password": "p"},
    ProviderName.JIRA: {
        "siteUrl": "https://acme.atlassian.net",
        "email": "b@acme.com",
        "apiToken": "t",
        "projectKey": "OPS",
    },
    ProviderName.INCIDENTIO: {"apiKey": "k"},
    ProviderName.FIREHYDRANT: {"botToken": "t"},
}


@pytest.mark.parametrize("provider", list(CREDENTIALS))
@pytest.mark.parametrize("vendor_id", [".", ".."])
def test_a_vendor_id_that_would_leave_its_segment_is_never_sent(provider: ProviderName, vendor_id: str) -> None:
    recorder = Recorder()
    context = ProviderContext(
        pager=lambda: pytest.fail("no pages here"),
        link=lambda _: None,
        credentials=lambda name: CREDENTIALS[name],
        transport=recorder.transport(),
    )
    adapter = provider_for(provider, context)
    incident = sample_incident(provider, externalId=vendor_id, providerData={"alias": vendor_id})

    with pytest.raises(MalformedRequest):
        adapter.get(incident)
    assert recorder.requests == []  # httpx would have resolved the dots: /incidents/.. is /


def test_a_jira_issue_key_is_quoted_into_one_segment() -> None:
    recorder = Recorder({"key": "OPS-1", "fields": {"status": {"statusCategory": {"key": "new"}}}})
    context = ProviderContext(
        pager=lambda: pytest.fail("no pages here"),
        link=lambda _: None,
        credentials=lambda name: CREDENTIALS[name],
        transport=recorder.transport(),
    )
    adapter = provider_for(ProviderName.JIRA, context)

    adapter.get(sample_incident(ProviderName.JIRA, externalId="OPS-1/../../../admin"))

    sent = [request.url.raw_path.partition(b"?")[0] for request in recorder.requests]
    assert sent == [b"/rest/api/3/issue/OPS-1%2F..%2F..%2F..%2Fadmin"]


@pytest.mark.parametrize("run_id", [".", ".."])
def test_a_port_run_id_that_cannot_be_a_path_segment_is_refused_on_arrival(run_id: str) -> None:
    with pytest.raises(MalformedRequest) as refused:
        parse_action_run(LifecycleStep.ACKNOWLEDGE, {"runId": run_id, "entity": {"identifier": "inc-1"}})
    assert refused.value.field == "runId"


# Signatures and secrets


def _port_headers(secret: str, body: bytes, version: str = "v1") -> dict[str, str]:
    timestamp = str(int(NOW.timestamp()))
    signature = port_signature(secret, timestamp, body).removeprefix("v1,")
    return {"x-port-timestamp": timestamp, "x-port-signature": f"{version},{signature}"}


def test_the_port_signature_version_is_checked() -> None:
    body = b'{"runId": "r_1"}'
    verify_port_signature(_port_headers("s3cret", body), body, "s3cret", now=NOW)
    for version in ("v2", "", "V1 "):
        with pytest.raises(AuthenticationError, match="v1"):
            verify_port_signature(_port_headers("s3cret", body, version), body, "s3cret", now=NOW)
    bare = _port_headers("s3cret", body)
    bare["x-port-signature"] = bare["x-port-signature"].removeprefix("v1,")
    with pytest.raises(AuthenticationError):
        verify_port_signature(bare, body, "s3cret", now=NOW)


@pytest.mark.parametrize("secret", ["", " ", "\t\n"])
def test_a_blank_port_client_secret_refuses_everything(secret: str) -> None:
    body = b"{}"
    with pytest.raises(AuthenticationError, match="no Port client secret"):
        verify_port_signature(_port_headers(secret, body), body, secret, now=NOW)


@pytest.mark.parametrize(
    ("source", "entry", "headers"),
    [
        (Source.PROMETHEUS, {"token": " "}, {"authorization": "Bearer  "}),
        (
            Source.GRAFANA,
            {"hmac": "  "},
            {"x-grafana-alerting-signature": hmac.new(b"  ", b"{}", hashlib.sha256).hexdigest()},
        ),
        (Source.SENTRY, {"hmac": " "}, {"sentry-hook-signature": hmac.new(b" ", b"{}", hashlib.sha256).hexdigest()}),
        (Source.GRAFANA, {"basic": "grafana:"}, {"authorization": "Basic " + base64.b64encode(b"grafana:").decode()}),
        (Source.GRAFANA, {"basic": ":"}, {"authorization": "Basic " + base64.b64encode(b":").decode()}),
    ],
)
def test_a_blank_source_secret_refuses_every_request(
    source: Source, entry: dict[str, str], headers: dict[str, str]
) -> None:
    secrets = WebhookSecrets.from_json({source.value: entry})
    with pytest.raises(AuthenticationError):
        verify_webhook(source, headers, b"{}", secrets, now=NOW)


def _svix_headers(key: bytes, body: bytes) -> dict[str, str]:
    timestamp = str(int(NOW.timestamp()))
    signature = base64.b64encode(hmac.new(key, f"msg_1.{timestamp}.".encode() + body, hashlib.sha256).digest())
    return {"webhook-id": "msg_1", "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature.decode()}"}


@pytest.mark.parametrize("secret", ["whsec_", " whsec_ ", "whsec_   ", "", "   "])
def test_an_incidentio_secret_empty_after_its_prefix_refuses_what_an_empty_key_signs(secret: str) -> None:
    body = json.dumps({"event_type": "public_incident.incident_updated_v2"}).encode()
    with pytest.raises(AuthenticationError, match=r"no incident\.io webhook secret"):
        INCIDENTIO_WEBHOOK.verify(_svix_headers(b"", body), body, secret, now=NOW)


@pytest.mark.parametrize("provider", [ProviderName.PAGERDUTY, ProviderName.JIRA, ProviderName.FIREHYDRANT])
@pytest.mark.parametrize("secret", ["", "  ", "\n"])
def test_a_blank_provider_webhook_secret_refuses_every_request(provider: ProviderName, secret: str) -> None:
    signatures = {
        ProviderName.PAGERDUTY: {
            "x-pagerduty-signature": "v1=" + hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
        },
        ProviderName.JIRA: {
            "x-hub-signature": "sha256=" + hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
        },
        ProviderName.FIREHYDRANT: {"fh-signature": hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()},
    }
    with pytest.raises(AuthenticationError, match="secret is configured"):
        receive_provider_webhook(
            provider,
            signatures[provider],
            b"{}",
            secret=lambda: secret,
            lifecycle=lambda: pytest.fail("nothing may be applied"),
            now=NOW,
            max_body_bytes=1024,
        )
