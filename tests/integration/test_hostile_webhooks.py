"""Hostile bodies through the real ingest handlers, signed after mutating (as an attacker with the secret, or
a broken exporter, would send them): never a 5xx, and whatever is answered 202 is stored by the processor,
none of it left failing in the queue."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import HealthCheck, given, settings

from incident_core.models import Source
from tests.events import example_secrets
from tests.hostile import mutated_samples
from tests.integration.conftest import Stack

SECRETS = example_secrets()
SIGNATURE_HEADERS = {Source.GRAFANA: "X-Grafana-Alerting-Signature", Source.SENTRY: "Sentry-Hook-Signature"}


def _signed(source: Source, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The sample's credentials, re-signed over the mutated body (Grafana's timestamp dropped: it is stale)."""
    header = SIGNATURE_HEADERS.get(source)
    if header is None:
        return headers
    kept = {k: v for k, v in headers.items() if k.lower() not in (header.lower(), "x-grafana-alerting-timestamp")}
    return {**kept, header: hmac.new(SECRETS[source.value]["hmac"].encode(), body, hashlib.sha256).hexdigest()}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutated_samples())
def test_signed_hostile_bodies_get_no_5xx_and_what_is_accepted_is_stored(
    stack: Stack, sample: tuple[Source, dict[str, str], bytes]
) -> None:
    source, headers, body = sample
    answer = stack.post(source, _signed(source, headers, body), body)
    assert answer.status in (200, 202, 400, 413), (answer.status, answer.body)
    if answer.status == 202:
        stack.drain()
        assert stack.queued() == 0, "a message that was accepted could not be stored"
