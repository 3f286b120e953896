"""PortClient against FakePort: tokens, bulk limits, partial failures, retries, and error sentences."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from incident_core.errors import BulkUpsertError, ConfigurationError, PortApiError
from incident_core.port import client as port_client
from incident_core.port.client import MAX_REQUEST_BYTES, PortClient
from incident_core.retry import RetryPolicy
from tests.fakes import FakeClock
from tests.fakes.port import FAKE_PORT_URL, FakePort

BULK = "POST /v1/blueprints/{blueprint_identifier}/entities/bulk"
TOKEN = "POST /v1/auth/access_token"

ALERT_BLUEPRINT = {
    "identifier": "alert",
    "title": "Alert",
    "schema": {
        "properties": {
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "resolved"]},
            "rawPayload": {"type": "object"},
        },
        "required": ["title"],
    },
}


def no_jitter(cap: float) -> float:
    return cap


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakePort:
    return FakePort(clock=clock, blueprints=[ALERT_BLUEPRINT])


def make_client(fake: FakePort, clock: FakeClock, policy: RetryPolicy | None = None) -> PortClient:
    return PortClient(
        FAKE_PORT_URL,
        fake.client_id,
        fake.client_secret,
        http=httpx.Client(transport=fake.transport()),
        clock=clock,
        sleep=clock.sleep,
        retry=policy or RetryPolicy(base_delay=1.0, max_delay=8.0, max_total_seconds=30.0, jitter=no_jitter),
    )


@pytest.fixture
def client(fake: FakePort, clock: FakeClock) -> PortClient:
    return make_client(fake, clock)


def alert(identifier: str, **properties: Any) -> dict[str, Any]:
    return {"identifier": identifier, "title": identifier, "properties": {"title": identifier, **properties}}


def bulk_sizes(fake: FakePort) -> list[int]:
    return [len(request.body["entities"]) for request in fake.requests if request.route == BULK]


class TestConstruction:
    def test_missing_credentials_are_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="PORT_CLIENT_ID"):
            PortClient("https://api.port.io", "", "secret")

    def test_construction_does_no_io(self, fake: FakePort, clock: FakeClock) -> None:
        make_client(fake, clock)
        assert fake.requests == []

    def test_every_request_has_timeouts(self, client: PortClient) -> None:
        seen: list[dict[str, Any]] = []
        fake = FakePort(blueprints=[ALERT_BLUEPRINT])

        def spy(request: httpx.Request) -> httpx.Response:
            seen.append(request.extensions["timeout"])
            return fake.handle(request)

        spying = PortClient(
            FAKE_PORT_URL, fake.client_id, fake.client_secret, http=httpx.Client(transport=httpx.MockTransport(spy))
        )
        spying.get_entity("alert", "a-1")
        assert seen == [{"connect": 3.0, "read": 10.0, "write": 10.0, "pool": 10.0}] * 2


class TestToken:
    def test_token_is_fetched_once_and_reused(self, client: PortClient, fake: FakePort) -> None:
        client.get_entity("alert", "a-1")
        client.get_entity("alert", "a-2")
        assert fake.calls[TOKEN] == 1

    def test_token_is_refreshed_a_minute_before_it_expires(
        self, client: PortClient, fake: FakePort, clock: FakeClock
    ) -> None:
        client.get_entity("alert", "a-1")
        clock.advance(3 * 3600 - 61)
        client.get_entity("alert", "a-1")
        assert fake.calls[TOKEN] == 1
        clock.advance(2)  # now inside the 60 s safety margin
        client.get_entity("alert", "a-1")
        assert fake.calls[TOKEN] == 2
        # Port answers with the same token until it expires: that one is used to its end, not refetched.
        assert fake.tokens_issued == 1
        client.get_entity("alert", "a-1")
        assert fake.calls[TOKEN] == 2
        clock.advance(60)
        client.get_entity("alert", "a-1")
        assert fake.calls[TOKEN] == 3
        assert fake.tokens_issued == 2

    def test_a_401_refreshes_the_token_once_and_retries(self, client: PortClient, fake: FakePort) -> None:
        client.upsert_entities("alert", [alert("a-1")])
        fake.revoke_tokens()
        client.upsert_entities("alert", [alert("a-2")])
        assert fake.calls[TOKEN] == 2
        assert set(fake.entities["alert"]) == {"a-1", "a-2"}

    def test_a_second_401_is_a_credentials_error(self, client: PortClient, fake: FakePort) -> None:
        client.get_entity("alert", "a-1")
        fake.fail_next(2, status=401, route="GET /v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}")
        with pytest.raises(PortApiError, match="PORT_CLIENT_SECRET") as raised:
            client.get_entity("alert", "a-1")
        assert raised.value.retryable is False
        assert raised.value.status_code == 401

    def test_wrong_credentials_are_not_retryable(self, fake: FakePort, clock: FakeClock) -> None:
        wrong = PortClient(FAKE_PORT_URL, "nobody", "wrong", http=httpx.Client(transport=fake.transport()), clock=clock)
        with pytest.raises(PortApiError, match="401") as raised:
            wrong.get_entity("alert", "a-1")
        assert raised.value.retryable is False


class TestBulkUpsert:
    def test_chunks_of_at_most_twenty(self, client: PortClient, fake: FakePort) -> None:
        client.upsert_entities("alert", [alert(f"a-{i}") for i in range(45)])
        assert bulk_sizes(fake) == [20, 20, 5]
        assert len(fake.entities["alert"]) == 45
        assert fake.violations == []

    def test_merge_upsert_keeps_properties_not_sent(self, client: PortClient, fake: FakePort) -> None:
        client.upsert_entities("alert", [alert("a-1", status="open")])
        client.upsert_entities("alert", [{"identifier": "a-1", "properties": {"title": "renamed"}}])
        assert fake.entities["alert"]["a-1"]["properties"] == {"title": "renamed", "status": "open"}
        assert all(r.query == {"upsert": "true", "merge": "true"} for r in fake.requests if r.route == BULK)

    def test_run_id_ties_entities_to_the_run(self, client: PortClient, fake: FakePort) -> None:
        client.upsert_entities("alert", [alert("a-1")], run_id="r_1")
        assert fake.run_entities["r_1"] == [("alert", "a-1")]

    def test_chunks_stay_within_one_mebibyte(self, client: PortClient, fake: FakePort) -> None:
        # Five entities of ~300 KB: three fit in 1 MiB, so the requests carry 3 and 2.
        big = [alert(f"big-{i}", rawPayload={"blob": "x" * 300_000}) for i in range(5)]
        client.upsert_entities("alert", big)
        assert bulk_sizes(fake) == [3, 2]
        bodies = [r for r in fake.requests if r.route == BULK]
        assert len(bodies) == 2
        assert fake.violations == []
        assert len(fake.entities["alert"]) == 5

    def test_an_entity_over_the_limit_alone_is_refused_before_sending(self, client: PortClient, fake: FakePort) -> None:
        huge = alert("huge-1", rawPayload={"blob": "x" * MAX_REQUEST_BYTES})
        with pytest.raises(PortApiError, match="huge-1") as raised:
            client.upsert_entities("alert", [alert("ok-1"), huge])
        assert raised.value.retryable is False
        assert fake.calls[BULK] == 0

    def test_partial_failure_names_each_refused_entity(self, client: PortClient, fake: FakePort) -> None:
        entities = [alert("good-1"), alert("bad-1", status="exploded"), alert("good-2"), alert("bad-2", status="?")]
        with pytest.raises(BulkUpsertError) as raised:
            client.upsert_entities("alert", entities)
        error = raised.value
        assert [failure.identifier for failure in error.failures] == ["bad-1", "bad-2"]
        assert "bad-1 (422" in error.message
        assert "'exploded' is not one of" in error.message
        assert error.retryable is False
        assert set(fake.entities["alert"]) == {"good-1", "good-2"}

    def test_partial_failure_with_a_server_error_is_retryable(self, client: PortClient, fake: FakePort) -> None:
        fake.fail_entity("a-2", status_code=503, message="shard unavailable")
        with pytest.raises(BulkUpsertError, match="shard unavailable") as raised:
            client.upsert_entities("alert", [alert("a-1"), alert("a-2")])
        assert raised.value.retryable is True

    def test_later_chunks_are_still_sent_after_a_partial_failure(self, client: PortClient, fake: FakePort) -> None:
        entities = [alert(f"a-{i}") for i in range(25)]
        entities[3] = alert("a-3", status="broken")
        with pytest.raises(BulkUpsertError):
            client.upsert_entities("alert", entities)
        assert len(fake.entities["alert"]) == 24


class TestRetries:
    def test_429_waits_as_long_as_retry_after_says(self, client: PortClient, fake: FakePort, clock: FakeClock) -> None:
        fake.fail_next(1, status=429, headers={"Retry-After": "7"}, route=BULK)
        client.upsert_entities("alert", [alert("a-1")])
        assert clock.sleeps == [7.0]
        assert "a-1" in fake.entities["alert"]

    def test_429_waits_until_the_rate_limit_window_resets(
        self, client: PortClient, fake: FakePort, clock: FakeClock
    ) -> None:
        reset = int(clock.now) + 4
        headers = {"x-ratelimit-reset": str(reset), "x-ratelimit-remaining": "0", "x-ratelimit-limit": "100"}
        fake.fail_next(2, status=429, headers=headers, route=BULK)
        client.upsert_entities("alert", [alert("a-1")])
        # The first wait reaches the reset; the second answer still names a reset now passed: no wait.
        assert clock.sleeps == [4.0, 0.0]
        assert fake.calls[BULK] == 3

    def test_server_errors_are_retried_then_succeed(self, client: PortClient, fake: FakePort, clock: FakeClock) -> None:
        fake.fail_next(2, status=503, route=BULK)
        client.upsert_entities("alert", [alert("a-1")])
        assert clock.sleeps == [1.0, 2.0]
        assert fake.calls[BULK] == 3

    def test_an_outage_loses_nothing(self, client: PortClient, fake: FakePort, clock: FakeClock) -> None:
        client.get_entity("alert", "warm-up")
        fake.outage(clock.now, clock.now + 5)
        client.upsert_entities("alert", [alert(f"a-{i}") for i in range(30)])
        assert len(fake.entities["alert"]) == 30
        assert clock.sleeps == [1.0, 2.0, 4.0]

    def test_recover_ends_injected_failures(self, client: PortClient, fake: FakePort, clock: FakeClock) -> None:
        fake.fail_next(100, status=503)
        fake.outage(clock.now, clock.now + 3600)
        fake.recover()
        client.upsert_entities("alert", [alert("a-1")])
        assert clock.sleeps == []

    def test_budget_exhausted_is_a_retryable_error_with_a_sentence(self, fake: FakePort, clock: FakeClock) -> None:
        client = make_client(
            fake, clock, RetryPolicy(max_attempts=4, base_delay=1.0, max_total_seconds=9.5, jitter=no_jitter)
        )
        client.get_entity("alert", "warm-up")
        fake.fail_next(10, status=503, route=BULK, message="Service Unavailable")
        with pytest.raises(PortApiError) as raised:
            client.upsert_entities("alert", [alert("a-1")])
        error = raised.value
        assert error.retryable is True
        assert error.status_code == 503
        # Waits of 1, 2 and 4 s fit in 9.5 s; the fourth attempt fails and no attempts are left.
        assert error.message.startswith("Port API unavailable (503) after 4 attempts over 7.0 s: POST ")
        assert "Service Unavailable" in error.message

    def test_unreachable_port_is_a_retryable_error(self, clock: FakeClock) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused")

        client = PortClient(
            FAKE_PORT_URL,
            "id",
            "secret",
            http=httpx.Client(transport=httpx.MockTransport(refuse)),
            clock=clock,
            sleep=clock.sleep,
            retry=RetryPolicy(max_attempts=3, base_delay=1.0, jitter=no_jitter),
        )
        with pytest.raises(PortApiError, match=r"unreachable after 3 attempts over 3\.0 s") as raised:
            client.get_blueprint("alert")
        assert raised.value.retryable is True


class TestErrors:
    def test_400_is_not_retried_and_carries_ports_message(
        self, client: PortClient, fake: FakePort, clock: FakeClock
    ) -> None:
        fake.fail_next(1, status=400, route=BULK, message="relation 'service' expects a string")
        with pytest.raises(PortApiError) as raised:
            client.upsert_entities("alert", [alert("a-1")])
        error = raised.value
        assert error.retryable is False
        assert error.status_code == 400
        assert "(400)" in error.message
        assert "relation 'service' expects a string" in error.message
        assert "trace id fake-trace-" in error.message
        assert clock.sleeps == []
        assert fake.calls[BULK] == 1

    def test_unknown_blueprint_is_a_404_error_for_writes(self, client: PortClient) -> None:
        with pytest.raises(PortApiError, match="404") as raised:
            client.upsert_entities("nope", [alert("a-1")])
        assert raised.value.retryable is False


class TestReads:
    def test_get_entity_returns_the_entity_or_none(self, client: PortClient) -> None:
        client.upsert_entities("alert", [alert("a/1", status="open")])
        assert client.get_entity("alert", "a/1") == {
            "identifier": "a/1",
            "title": "a/1",
            "properties": {"title": "a/1", "status": "open"},
            "relations": {},
        }
        assert client.get_entity("alert", "missing") is None

    def test_search_follows_pages(self, client: PortClient, fake: FakePort, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(port_client, "SEARCH_PAGE_SIZE", 100)
        for i in range(160):
            fake.add_entity("alert", alert(f"a-{i:04}", status="resolved" if i % 4 else "open"))
        found = client.search_entities("alert", [{"property": "status", "operator": "=", "value": "resolved"}])
        assert len(found) == 120
        assert len({entity["identifier"] for entity in found}) == 120
        assert fake.calls["POST /v1/blueprints/{blueprint_identifier}/entities/search"] == 2
        searches = [r.body for r in fake.requests if r.route.endswith("/search")]
        assert "from" not in searches[0]
        assert "from" in searches[1]

    def test_search_stops_at_the_limit(self, client: PortClient, fake: FakePort) -> None:
        for i in range(50):
            fake.add_entity("alert", alert(f"a-{i}"))
        found = client.search_entities(
            "alert", [{"property": "$identifier", "operator": "beginsWith", "value": "a-"}], limit=7
        )
        assert len(found) == 7
        assert [r.body["limit"] for r in fake.requests if r.route.endswith("/search")] == [7]

    def test_search_stops_when_port_repeats_a_cursor(self) -> None:
        def stuck(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v1/auth/access_token":
                return httpx.Response(
                    200, json={"ok": True, "accessToken": "t", "expiresIn": 10800, "tokenType": "Bearer"}
                )
            return httpx.Response(200, json={"ok": True, "entities": [{"identifier": "a-1"}], "next": "page-2"})

        client = PortClient(FAKE_PORT_URL, "id", "secret", http=httpx.Client(transport=httpx.MockTransport(stuck)))
        with pytest.raises(PortApiError, match="same page cursor twice"):
            client.search_entities("alert", [])
