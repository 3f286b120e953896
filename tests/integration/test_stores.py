"""The DynamoDB stores, the Port projector and the alert queue against moto (in process, no sockets).

Tables are created like template.yaml does (hash key `pk`, a string); clients come from `incident_core.aws`,
whose cache is reset around every test so a client of one moto backend never leaks into the next.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from incident_core import aws
from incident_core.errors import Conflict, EntityFailure
from incident_core.models import Alert, AlertStatus, Severity, Source
from incident_core.models.alert_record import AlertRecord, apply_notification
from incident_core.models.notification import AlertNotification
from incident_core.queue import AlertQueue, redrive
from incident_core.store import versioned
from incident_core.store.alerts import AlertStore
from incident_core.store.outbox import OutboxStore
from incident_core.store.projections import Projection, ProjectionStore, projection_key
from incident_core.usecases.projection import ALERT_BLUEPRINT, Projector, alert_entity, visible_hash
from tests.integration.conftest import create_table

REGION = "us-east-1"
NOW = "2026-11-27T09:00:00.000Z"


@pytest.fixture
def alert_store(aws_env: None) -> AlertStore:
    return AlertStore(create_table("AlertsTable"))


@pytest.fixture
def projection_store(aws_env: None) -> ProjectionStore:
    return ProjectionStore(aws.dynamodb(), create_table("PortEntitiesTable"))


def _alert(external_id: str = "3f1c9a7e5b2d4c60", **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "title": "High error rate on checkout",
        "description": "5xx above 5%",
        "severity": Severity.CRITICAL,
        "status": AlertStatus.OPEN,
        "source": Source.DATADOG,
        "externalId": external_id,
        "startedAt": "2026-11-27T08:14:03.123Z",
        "rawPayload": {"id": "event-1"},
    }
    return Alert(**(fields | changes))


def _note(alert: Alert, notification_id: str, received: str = "2026-11-27T08:15:00.000Z") -> AlertNotification:
    return AlertNotification(alert=alert, notificationId=notification_id, receivedAt=received)


def _applying(notification: AlertNotification) -> Callable[[AlertRecord | None], AlertRecord | None]:
    def update(current: AlertRecord | None) -> AlertRecord | None:
        return apply_notification(current, notification, service="checkout", flap_threshold=4, flap_window_seconds=60)

    return update


def _record(external_id: str = "3f1c9a7e5b2d4c60", **changes: Any) -> AlertRecord:
    record = apply_notification(
        None,
        _note(_alert(external_id), f"{external_id}:0"),
        service="checkout",
        flap_threshold=4,
        flap_window_seconds=60,
    )
    assert record is not None
    return record.model_copy(update=changes)


# --- AlertStore ---------------------------------------------------------------------------------------------


def test_change_creates_then_updates_with_version_increments(alert_store: AlertStore) -> None:
    alert = _alert()
    assert alert_store.get(alert.dedup_key) is None

    created, written = alert_store.change(alert.dedup_key, _applying(_note(alert, "n1")))
    assert written is True
    assert created is not None
    assert created.version == 1
    assert created.notificationCount == 1
    assert alert_store.get(alert.dedup_key) == created

    updated, written = alert_store.change(
        alert.dedup_key, _applying(_note(_alert(status=AlertStatus.RESOLVED), "n2", "2026-11-27T08:20:00.000Z"))
    )
    assert written is True
    assert updated is not None
    assert updated.version == 2
    assert updated.notificationCount == 2
    assert updated.status is AlertStatus.RESOLVED
    stored = alert_store.get(alert.dedup_key)
    assert stored == updated
    assert stored is not None
    assert [c.status for c in stored.statusHistory] == [AlertStatus.OPEN, AlertStatus.RESOLVED]


def test_change_stores_the_queryable_attributes(alert_store: AlertStore) -> None:
    alert = _alert()
    alert_store.change(alert.dedup_key, _applying(_note(alert, "n1")))

    item = aws.dynamodb().Table("AlertsTable").get_item(Key={"pk": f"ALERT#{alert.dedup_key}"})["Item"]
    assert item["kind"] == "alert"
    assert item["source"] == "datadog"
    assert item["status"] == "open"
    assert item["service"] == "checkout"
    assert item["version"] == 1
    assert json.loads(str(item["doc"]))["externalId"] == alert.externalId


def test_a_redelivery_writes_nothing(alert_store: AlertStore) -> None:
    alert = _alert()
    notification = _note(alert, "n1")
    first, _ = alert_store.change(alert.dedup_key, _applying(notification))

    again, written = alert_store.change(alert.dedup_key, _applying(notification))

    assert written is False
    assert again == first
    stored = alert_store.get(alert.dedup_key)
    assert stored is not None
    assert stored.version == 1
    assert stored.notificationCount == 1


def test_update_returning_none_writes_nothing(alert_store: AlertStore) -> None:
    result, written = alert_store.change("datadog-nothing", lambda current: None)

    assert (result, written) == (None, False)
    assert alert_store.get("datadog-nothing") is None
    assert list(alert_store.scan()) == []


def test_a_concurrent_writer_loses_nothing(alert_store: AlertStore) -> None:
    alert = _alert()
    key = alert.dedup_key
    alert_store.change(key, _applying(_note(alert, "first")))

    mine = _applying(_note(alert, "mine", "2026-11-27T08:16:00.000Z"))
    theirs = _applying(_note(alert, "theirs", "2026-11-27T08:17:00.000Z"))
    seen: list[int] = []

    def racing(current: AlertRecord | None) -> AlertRecord | None:
        assert current is not None
        seen.append(current.version)
        if len(seen) == 1:
            # Another processor writes between this read and this put.
            alert_store.change(key, theirs)
        return mine(current)

    record, written = alert_store.change(key, racing)

    assert written is True
    assert seen == [1, 2]  # re-read after the conflict, re-applied on fresh state
    assert record is not None
    stored = alert_store.get(key)
    assert stored == record
    assert stored.version == 3
    assert stored.notificationCount == 3
    assert set(stored.recentNotificationIds) == {"first", "mine", "theirs"}


def test_a_key_that_keeps_changing_gives_up_with_a_conflict(alert_store: AlertStore) -> None:
    alert = _alert()
    key = alert.dedup_key
    alert_store.change(key, _applying(_note(alert, "first")))
    counter = iter(range(100))

    def always_racing(current: AlertRecord | None) -> AlertRecord | None:
        alert_store.change(key, _applying(_note(alert, f"other-{next(counter)}")))
        return _applying(_note(alert, "mine"))(current)

    with pytest.raises(Conflict):
        alert_store.change(key, always_racing)

    stored = alert_store.get(key)
    assert stored is not None
    assert "mine" not in stored.recentNotificationIds
    assert stored.notificationCount == 1 + versioned.MAX_WRITE_ATTEMPTS


def test_concurrent_creation_of_a_new_alert_keeps_both(alert_store: AlertStore) -> None:
    alert = _alert()
    key = alert.dedup_key
    calls: list[AlertRecord | None] = []

    def racing(current: AlertRecord | None) -> AlertRecord | None:
        calls.append(current)
        if len(calls) == 1:
            alert_store.change(key, _applying(_note(alert, "theirs")))
        return _applying(_note(alert, "mine"))(current)

    record, _ = alert_store.change(key, racing)

    assert calls[0] is None
    assert calls[1] is not None
    assert record is not None
    assert record.notificationCount == 2
    assert record.version == 2


def test_scan_lists_every_alert(alert_store: AlertStore) -> None:
    ids = [f"ext-{i}" for i in range(7)]
    for external_id in ids:
        alert = _alert(external_id)
        alert_store.change(alert.dedup_key, _applying(_note(alert, f"{external_id}:0")))
    # Another kind of item in the same table is not an alert.
    aws.dynamodb().Table("AlertsTable").put_item(Item={"pk": "INCIDENT#x", "doc": "{}"})

    records = list(alert_store.scan())

    assert sorted(r.externalId for r in records) == ids
    assert all(r.version == 1 for r in records)


# --- ProjectionStore ----------------------------------------------------------------------------------------


def _projection(identifier: str, blueprint: str = "alert", **changes: Any) -> Projection:
    fields: dict[str, Any] = {
        "blueprint": blueprint,
        "identifier": identifier,
        "visibleHash": f"hash-{identifier}",
        "entity": {"identifier": identifier, "title": "Ünïcode title", "properties": {"n": 1}, "relations": {}},
        "projectedAt": NOW,
        "syncedToPort": True,
    }
    return Projection(**(fields | changes))


def test_projection_store_round_trip(projection_store: ProjectionStore) -> None:
    saved = [
        _projection("datadog-1"),
        _projection("datadog-2", syncedToPort=False),
        _projection("inc-1", blueprint="incident"),
    ]
    projection_store.save(saved)

    assert sorted(projection_store.entities(), key=lambda p: p.key) == sorted(saved, key=lambda p: p.key)
    assert sorted(p.identifier for p in projection_store.entities("alert")) == ["datadog-1", "datadog-2"]
    assert [p.identifier for p in projection_store.entities("incident")] == ["inc-1"]
    assert list(projection_store.entities("service")) == []


def test_projection_store_hashes(projection_store: ProjectionStore) -> None:
    projection_store.save([_projection("a"), _projection("b")])
    keys = [projection_key("alert", "a"), projection_key("alert", "b"), projection_key("alert", "missing")]

    assert projection_store.hashes([*keys, keys[0]]) == {"alert#a": "hash-a", "alert#b": "hash-b"}
    assert projection_store.hashes([]) == {}


def test_projection_store_hashes_more_than_one_batch(projection_store: ProjectionStore) -> None:
    projections = [_projection(f"id-{i}") for i in range(130)]
    projection_store.save(projections)

    found = projection_store.hashes(p.key for p in projections)

    assert found == {p.key: p.visibleHash for p in projections}


class _ThrottlingResource:
    """Wraps the DynamoDB resource; its first batch_get_item leaves all but one key unprocessed, as a throttled
    DynamoDB does."""

    def __init__(self, resource: Any) -> None:
        self._resource = resource
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls > 1:
            return self._resource.batch_get_item(RequestItems=RequestItems)  # type: ignore[no-any-return]
        ((table, request),) = RequestItems.items()
        first, rest = request["Keys"][:1], request["Keys"][1:]
        answer = self._resource.batch_get_item(RequestItems={table: {**request, "Keys": first}})
        answer["UnprocessedKeys"] = {table: {**request, "Keys": rest}} if rest else {}
        return answer  # type: ignore[no-any-return]


def test_projection_store_hashes_asks_again_for_unprocessed_keys(aws_env: None) -> None:
    table = create_table("PortEntitiesTable")
    ProjectionStore(aws.dynamodb(), table).save([_projection("a"), _projection("b"), _projection("c")])
    resource = _ThrottlingResource(aws.dynamodb())

    found = ProjectionStore(resource, table).hashes(["alert#a", "alert#b", "alert#c"])  # type: ignore[arg-type]

    assert found == {"alert#a": "hash-a", "alert#b": "hash-b", "alert#c": "hash-c"}
    assert resource.calls == 2


def test_saving_again_overwrites(projection_store: ProjectionStore) -> None:
    projection_store.save([_projection("a")])
    projection_store.save([_projection("a", visibleHash="new", syncedToPort=False)])

    assert projection_store.hashes(["alert#a"]) == {"alert#a": "new"}
    (only,) = projection_store.entities()
    assert only.syncedToPort is False


# --- Projector ----------------------------------------------------------------------------------------------


class RecordingSink:
    """A Port that writes everything (or, failing, nothing: every entity comes back retryable)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []
        self.fail = fail

    def write_entities(self, blueprint: str, entities: list[dict[str, Any]]) -> list[EntityFailure]:
        if self.fail:
            return [EntityFailure(e["identifier"], 503, "Port is down", retryable=True) for e in entities]
        self.calls.append((blueprint, entities))
        return []

    def existing_entities(self, blueprint: str, identifiers: set[str]) -> set[str]:
        return identifiers


@pytest.fixture
def outbox(aws_env: None) -> OutboxStore:
    return OutboxStore(aws.dynamodb(), create_table("PortOutboxTable"))


def _projector(store: ProjectionStore, sink: RecordingSink | None, outbox: OutboxStore, now: str = NOW) -> Projector:
    return Projector(store, sink, lambda: now, outbox=outbox)


def test_alert_entity_carries_seed_properties_and_relations() -> None:
    record = _record(incidentId="inc-42")
    entity = alert_entity(record)

    assert entity["identifier"] == "datadog-3f1c9a7e5b2d4c60"
    assert entity["title"] == record.title
    assert entity["properties"] == record.as_alert().seed_fields()
    assert entity["relations"] == {"service": "checkout", "incident": "inc-42"}
    assert alert_entity(_record(service=None))["relations"] == {}


def test_visible_hash_ignores_raw_payload_only() -> None:
    entity = alert_entity(_record())
    same = alert_entity(_record(rawPayload={"id": "event-2"}))
    other = alert_entity(_record(severity=Severity.INFO))

    assert visible_hash(entity) == visible_hash(same)
    assert visible_hash(entity) != visible_hash(other)
    assert visible_hash(entity) != visible_hash(alert_entity(_record(service="payments")))


def test_projector_writes_only_when_something_visible_changed(
    projection_store: ProjectionStore, outbox: OutboxStore
) -> None:
    sink = RecordingSink()
    projector = _projector(projection_store, sink, outbox)
    record = _record()

    assert projector.project_alerts([record]) == 1
    assert len(sink.calls) == 1
    assert sink.calls[0] == (ALERT_BLUEPRINT, [alert_entity(record)])

    # The same again: nothing to write.
    assert projector.project_alerts([record]) == 0
    # Only rawPayload (and delivery bookkeeping) changed: nobody would see a difference.
    noisy = record.model_copy(
        update={"rawPayload": {"id": "event-2"}, "notificationCount": 7, "lastSeenAt": NOW, "version": 5}
    )
    assert projector.project_alerts([noisy]) == 0
    assert len(sink.calls) == 1

    # A visible field changed: written again.
    resolved = record.model_copy(update={"status": AlertStatus.RESOLVED, "endedAt": NOW})
    assert projector.project_alerts([resolved]) == 1
    assert len(sink.calls) == 2
    assert sink.calls[1][1][0]["properties"]["status"] == "resolved"

    (stored,) = projection_store.entities(ALERT_BLUEPRINT)
    assert stored.entity == alert_entity(resolved)
    assert stored.syncedToPort is True
    assert stored.projectedAt == NOW


def test_projector_sends_only_the_changed_entities_of_a_batch(
    projection_store: ProjectionStore, outbox: OutboxStore
) -> None:
    sink = RecordingSink()
    projector = _projector(projection_store, sink, outbox)
    a, b = _record("a"), _record("b")
    projector.project_alerts([a, b])

    assert projector.project_alerts([a, b.model_copy(update={"title": "renamed"})]) == 1
    assert [e["identifier"] for e in sink.calls[-1][1]] == [b.identifier]


def test_local_mode_keeps_the_entity_and_writes_it_once_a_sink_exists(
    projection_store: ProjectionStore, outbox: OutboxStore
) -> None:
    record = _record()
    local = _projector(projection_store, None, outbox)

    assert local.project_alerts([record]) == 1
    (kept,) = projection_store.entities()
    assert kept.syncedToPort is False
    assert kept.entity == alert_entity(record)
    assert local.project_alerts([record]) == 0  # unchanged: not kept again

    sink = RecordingSink()
    assert _projector(projection_store, sink, outbox).project_alerts([record]) == 1
    assert sink.calls == [(ALERT_BLUEPRINT, [alert_entity(record)])]
    (synced,) = projection_store.entities()
    assert synced.syncedToPort is True
    assert _projector(projection_store, sink, outbox).project_alerts([record]) == 0
    assert len(sink.calls) == 1


def test_a_failing_sink_keeps_the_entity_pending_until_a_drain_writes_it(
    projection_store: ProjectionStore, outbox: OutboxStore
) -> None:
    record = _record()

    assert _projector(projection_store, RecordingSink(fail=True), outbox).project_alerts([record]) == 0
    (kept,) = projection_store.entities()
    assert kept.syncedToPort is False
    assert outbox.due_entities(NOW) == []  # backing off
    (pending,) = outbox.due_entities("2026-11-27T09:00:15.000Z")
    assert (pending.identifier, pending.attempts, pending.reason) == (
        record.identifier,
        1,
        "Port did not take it (503): Port is down",
    )

    sink = RecordingSink()
    drained = _projector(projection_store, sink, outbox, now="2026-11-27T09:00:15.000Z").drain()
    assert drained.written == 1
    assert sink.calls == [(ALERT_BLUEPRINT, [alert_entity(record)])]
    assert outbox.due_entities("2026-11-28T00:00:00.000Z") == []
    (synced,) = projection_store.entities()
    assert synced.syncedToPort is True


# --- AlertQueue ---------------------------------------------------------------------------------------------


def _fifo(name: str) -> str:
    return aws.sqs().create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]


def _receive_all(url: str) -> list[dict[str, Any]]:
    """Every message, deleting each (FIFO hides a group's later messages while earlier ones are in flight)."""
    sqs = aws.sqs()
    received: list[Any] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return received
        received += messages
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_alert_queue_send_groups_by_dedup_key(aws_env: None) -> None:
    url = _fifo("AlertQueue.fifo")
    notifications = [
        _note(_alert(f"ext-{i % 3}", title=f"alert {i}"), f"req-{i}:{i % 3}", f"2026-11-27T08:15:{i:02d}.000Z")
        for i in range(13)  # more than one send batch
    ]

    AlertQueue(aws.sqs(), url).send(notifications)

    messages = _receive_all(url)
    assert len(messages) == len(notifications)
    by_id = {n.notificationId: n for n in notifications}
    for message in messages:
        parsed = AlertNotification.model_validate_json(message["Body"])
        sent = by_id.pop(parsed.notificationId)
        assert parsed == sent
        attributes = message["Attributes"]
        assert attributes["MessageGroupId"] == hashlib.sha256(sent.alert.dedup_key.encode()).hexdigest()
        assert attributes["MessageDeduplicationId"] == hashlib.sha256(sent.notificationId.encode()).hexdigest()
    assert by_id == {}


def test_alert_queue_send_twice_queues_once(aws_env: None) -> None:
    url = _fifo("AlertQueue.fifo")
    notification = _note(_alert(), "req-1:0")
    queue = AlertQueue(aws.sqs(), url)

    queue.send([notification])
    queue.send([notification])  # the sender retried the request with the same ids

    assert len(_receive_all(url)) == 1


def test_redrive_moves_messages_back_keeping_their_group(aws_env: None) -> None:
    dlq = _fifo("AlertDeadLetterQueue.fifo")
    queue = _fifo("AlertQueue.fifo")
    notifications = [_note(_alert(f"ext-{i % 2}"), f"req-{i}:0") for i in range(12)]
    AlertQueue(aws.sqs(), dlq).send(notifications)

    moved = redrive(aws.sqs(), dlq, queue)

    assert moved == len(notifications)
    assert _receive_all(dlq) == []
    messages = _receive_all(queue)
    assert sorted(AlertNotification.model_validate_json(m["Body"]).notificationId for m in messages) == sorted(
        n.notificationId for n in notifications
    )
    order: dict[str, list[str]] = {}
    for message in messages:
        parsed = AlertNotification.model_validate_json(message["Body"])
        assert message["Attributes"]["MessageGroupId"] == parsed.message_group_id
        order.setdefault(parsed.message_group_id, []).append(parsed.notificationId)
    # Within a group (one alert) the order of the dead-letter queue is kept.
    for group, ids in order.items():
        assert ids == [n.notificationId for n in notifications if n.message_group_id == group]
    assert len(order) == 2


def test_redrive_respects_the_limit(aws_env: None) -> None:
    dlq = _fifo("AlertDeadLetterQueue.fifo")
    queue = _fifo("AlertQueue.fifo")
    AlertQueue(aws.sqs(), dlq).send([_note(_alert(f"ext-{i}"), f"req-{i}:0") for i in range(5)])

    assert redrive(aws.sqs(), dlq, queue, limit=3) == 3
    assert len(_receive_all(queue)) == 3
