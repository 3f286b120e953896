"""Each vendor's adapter against a stateful fake of that vendor that loses the first answer to every write:
the whole lifecycle, every step run twice, leaves one incident, each note once, and the right final state.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from incident_core.errors import ConfigurationError
from incident_core.models.alert import Severity
from incident_core.models.incident import Incident, IncidentStatus, ProviderName
from incident_core.providers.base import VendorSetup
from incident_core.providers.firehydrant import adapter as firehydrant
from incident_core.providers.firehydrant.webhook import WEBHOOK as FIREHYDRANT_WEBHOOK
from incident_core.providers.incidentio import adapter as incidentio
from incident_core.providers.incidentio.webhook import WEBHOOK as INCIDENTIO_WEBHOOK
from incident_core.providers.jira import adapter as jira
from incident_core.providers.jira.adf import adf_text
from incident_core.providers.jira.webhook import WEBHOOK as JIRA_WEBHOOK
from incident_core.providers.lookups import Lookups
from incident_core.providers.opsgenie import adapter as opsgenie
from incident_core.providers.pagerduty import adapter as pagerduty
from incident_core.providers.pagerduty.webhook import WEBHOOK as PAGERDUTY_WEBHOOK
from incident_core.providers.servicenow import adapter as servicenow
from tests.fakes import FakeClock
from tests.fakes.vendors import LostAnswers
from tests.fakes.vendors.firehydrant import FakeFireHydrant
from tests.fakes.vendors.incidentio import FakeIncidentIo
from tests.fakes.vendors.jira import FakeJira
from tests.fakes.vendors.opsgenie import FakeOpsgenie
from tests.fakes.vendors.pagerduty import FakePagerDuty
from tests.fakes.vendors.servicenow import CLIENT_ID as SERVICENOW_CLIENT
from tests.fakes.vendors.servicenow import CLIENT_SECRET as SERVICENOW_CLIENT_SECRET
from tests.fakes.vendors.servicenow import INSTANCE as SERVICENOW_INSTANCE
from tests.fakes.vendors.servicenow import ServiceNowTableApi
from tests.providers import sample_alert, sample_incident
from tests.vendor_scenario import NOTE, run_every_step_twice

PORT = "https://app.port.io/incidentEntity?identifier="


def fresh(provider: Any, clock: FakeClock) -> Any:
    """An adapter as one step gets it, on the fake clock (waits between retries take no real time)."""
    provider.http.clock, provider.http.sleep = clock, clock.sleep
    return provider


def incident(provider: ProviderName, **changes: Any) -> Incident:
    return sample_incident(provider, **({"externalId": None} | changes))


PAGERDUTY_SECRET = {"apiKey": "k", "fromEmail": "incident-bot@example.com", "serviceId": "PSERVICE"}


class TestPagerDuty:
    def setup(self) -> tuple[FakePagerDuty, LostAnswers, VendorSetup, FakeClock]:
        fake = FakePagerDuty()
        transport = LostAnswers(fake)
        setup = VendorSetup(secret=PAGERDUTY_SECRET, link=lambda i: PORT + i, transport=transport, lookups=Lookups())
        return fake, transport, setup, FakeClock()

    def test_the_lifecycle_twice_with_every_answer_lost_leaves_one_incident_and_each_note_once(self) -> None:
        fake, transport, setup, clock = self.setup()

        life = run_every_step_twice(
            lambda: fresh(pagerduty.build(setup), clock),
            incident(ProviderName.PAGERDUTY),
            [sample_alert()],
            ["payments"],
        )

        assert transport.lost  # every kind of write lost its first answer
        (opened,) = fake.incidents
        assert opened == life.incident.externalId
        assert fake.status(opened) == "resolved"
        notes = [note["content"] for note in fake.notes[opened]]
        assert len(notes) == len(set(notes)) == 3  # services, escalation, the note: each once
        assert sum(NOTE in note for note in notes) == 1
        # Bo, who holds it after the reassignment, is on call at level 2: escalating once goes to level 3.
        assert fake.level(opened) == life.incident.escalationLevel == 3

    def test_webhooks_name_people_by_email_and_our_own_notes_do_not_come_back(self) -> None:
        fake, _, setup, clock = self.setup()
        run_every_step_twice(
            lambda: fresh(pagerduty.build(setup), clock), incident(ProviderName.PAGERDUTY), [sample_alert()], []
        )
        reader = fresh(pagerduty.build(replace(setup, transport=httpx.MockTransport(fake))), clock)

        events = [e for payload in fake.webhooks for e in PAGERDUTY_WEBHOOK.events(payload)]
        settled = [s for e in events if (s := reader.settle(e)) is not None]

        assert not any(e.note for e in settled)
        assert {e.actor for e in settled} == {"ana@example.com"}
        reassigned = [e.assignee for e in settled if e.assignee]
        assert reassigned
        assert set(reassigned) <= {"ana@example.com", "bo@example.com", "cy@example.com"}


class TestOpsgenie:
    SECRET = MappingProxyType({"apiKey": "k", "defaultEscalation": "Payments Escalation"})

    def test_the_lifecycle_twice_with_every_answer_lost_leaves_one_alert_and_each_note_once(self) -> None:
        fake = FakeOpsgenie()
        transport = LostAnswers(fake)
        setup = VendorSetup(secret=self.SECRET, link=lambda i: PORT + i, transport=transport, lookups=Lookups())
        clock = FakeClock()

        life = run_every_step_twice(
            lambda: fresh(opsgenie.build(setup), clock), incident(ProviderName.OPSGENIE), [sample_alert()], ["payments"]
        )

        assert transport.lost
        (alert,) = fake.alerts.values()
        assert alert["alias"] == life.incident.externalId
        assert (alert["status"], alert["acknowledged"], alert["owner"]) == ("closed", True, "bo@example.com")
        assert len(alert["notes"]) == len(set(alert["notes"])) == 3  # the escalation's, the note, the resolution
        assert sum(NOTE in note for note in alert["notes"]) == 1
        assert alert["escalations"] == 1
        assert "service:payments" in alert["tags"]


class TestServiceNow:
    SECRET = MappingProxyType(
        {"instanceUrl": SERVICENOW_INSTANCE, "clientId": SERVICENOW_CLIENT, "clientSecret": SERVICENOW_CLIENT_SECRET}
    )

    def instance(self, clock: FakeClock) -> ServiceNowTableApi:
        api = ServiceNowTableApi(clock=clock)
        api.add("sys_user", user_name="ana", name="Ana Lee", email="ana@example.com", active="true")
        api.add("sys_user", user_name="bo", name="Bo Chen", email="bo@example.com", active="true")
        api.add("cmdb_ci_service", name="checkout", operational_status="1")
        api.add("cmdb_ci_service", name="payments", operational_status="1")
        api.add("sys_choice", name="incident", element="close_code", value="Solution provided", inactive="false")
        return api

    def test_the_lifecycle_twice_with_every_answer_lost_leaves_one_record_and_each_work_note_once(self) -> None:
        clock = FakeClock()
        api = self.instance(clock)
        transport = LostAnswers(api.handle)
        setup = VendorSetup(secret=self.SECRET, transport=transport, lookups=Lookups(clock=clock))

        # A warning: ServiceNow escalates by raising urgency and impact, which a critical one has at the top.
        life = run_every_step_twice(
            lambda: fresh(servicenow.build(setup), clock),
            incident(ProviderName.SERVICENOW, severity=Severity.WARNING),
            [sample_alert()],
            ["payments"],
        )

        assert transport.lost
        assert api.violations == []
        (record,) = api.incidents()
        assert record["sys_id"] == life.incident.externalId
        assert (record["state"], record["close_code"]) == ("6", "Solution provided")
        notes = [entry for _, name, entry in api.journal if name == "work_notes"]
        # acknowledge, reassign, services, escalation, the note: each once
        assert len(notes) == len(set(notes)) == 5
        assert sum(NOTE in note for note in notes) == 1
        affected = sorted(
            api.records["cmdb_ci_service"][row["ci_item"]]["name"] for row in api.records["task_ci"].values()
        )
        assert affected == ["payments"]
        assert api.records["sys_user"][record["assigned_to"]]["email"] == "bo@example.com"

    def test_an_access_token_is_renewed_when_it_expires_and_once_more_when_it_is_revoked(self) -> None:
        clock = FakeClock()
        api = self.instance(clock)
        lookups = Lookups(clock=clock)
        setup = VendorSetup(secret=self.SECRET, transport=api.transport(), lookups=lookups)
        opened = fresh(servicenow.build(setup), clock).trigger(incident(ProviderName.SERVICENOW), [sample_alert()])
        current = incident(ProviderName.SERVICENOW).model_copy(update={"externalId": opened.externalId})

        clock.advance(31 * 60)  # past the token's 30 minutes: the static token of old failed every step from here
        fresh(servicenow.build(setup), clock).get(current)
        api.tokens.clear()  # revoked on the instance
        state = fresh(servicenow.build(setup), clock).get(current)

        assert state.status is IncidentStatus.TRIGGERED
        assert [r.url.path for r in api.requests].count("/oauth_token.do") == 3
        assert [v for v in api.violations if "not authenticated" not in v] == []

    def test_refused_client_credentials_fail_the_step_naming_the_secret(self) -> None:
        clock = FakeClock()
        api = self.instance(clock)
        secret = {**self.SECRET, "clientSecret": "wrong"}
        setup = VendorSetup(secret=secret, transport=api.transport(), secret_name="the secret acme/servicenow")

        with pytest.raises(ConfigurationError, match=r"clientId, clientSecret .* in the secret acme/servicenow"):
            fresh(servicenow.build(setup), clock).get(incident(ProviderName.SERVICENOW, externalId="x" * 32))


class TestJira:
    SECRET = MappingProxyType(
        {
            "siteUrl": "https://acme.atlassian.net",
            "email": "incident-bot@example.com",
            "apiToken": "t",
            "projectKey": "OPS",
        }
    )

    def setup(self) -> tuple[FakeJira, LostAnswers, VendorSetup, FakeClock]:
        fake = FakeJira()
        transport = LostAnswers(fake)
        setup = VendorSetup(secret=self.SECRET, link=lambda i: PORT + i, transport=transport, lookups=Lookups())
        return fake, transport, setup, FakeClock()

    def test_the_lifecycle_twice_with_every_answer_lost_and_a_lagging_search_leaves_one_issue_and_each_comment_once(
        self,
    ) -> None:
        fake, transport, setup, clock = self.setup()

        life = run_every_step_twice(
            lambda: fresh(jira.build(setup), clock), incident(ProviderName.JIRA), [sample_alert()], ["payments"]
        )

        assert transport.lost
        (issue,) = fake.issues.values()
        assert issue["key"] == life.incident.externalId
        assert issue["status"] == "Done"
        assert issue["assignee"] == "712020:bo"
        assert "service-payments" in issue["labels"]
        comments = [adf_text(comment) for comment in issue["comments"]]
        assert len(comments) == len(set(comments)) == 3  # the escalation, the note, the resolution
        assert sum(NOTE in comment for comment in comments) == 1

    def test_webhooks_of_our_own_changes_are_dropped_and_hidden_emails_read_back_as_emails(self) -> None:
        fake, _, setup, clock = self.setup()
        run_every_step_twice(lambda: fresh(jira.build(setup), clock), incident(ProviderName.JIRA), [sample_alert()], [])
        reader = fresh(jira.build(replace(setup, transport=httpx.MockTransport(fake))), clock)

        events = [e for payload in fake.webhooks for e in JIRA_WEBHOOK.events(payload)]

        assert events  # status and assignee changes were reported, comments were not (they carry our mark)
        assert all(e.note is None for e in events)
        assert [reader.settle(e) for e in events] == [None] * len(events)
        # Someone else handing the issue to Bo, whose email Jira hides, reads back as the email we assigned.
        theirs = events[-1].model_copy(update={"actorId": "712020:ana", "assigneeIds": ("712020:bo",)})
        settled = reader.settle(theirs)
        assert settled is not None
        assert (settled.actor, settled.assignee) == ("ana@example.com", "bo@example.com")


class TestIncidentIo:
    SECRET = MappingProxyType({"apiKey": "k", "servicesFieldId": "01FIELDSERVICES", "escalationPathId": "01PATHONE"})

    def test_the_lifecycle_twice_with_every_answer_lost_leaves_one_incident_closed_with_its_lead(self) -> None:
        fake = FakeIncidentIo()
        transport = LostAnswers(fake)
        setup = VendorSetup(secret=self.SECRET, transport=transport, lookups=Lookups())
        clock = FakeClock()

        life = run_every_step_twice(
            lambda: fresh(incidentio.build(setup), clock),
            incident(ProviderName.INCIDENTIO),
            [sample_alert()],
            ["payments"],
        )

        assert transport.lost
        (opened,) = fake.incidents.values()
        assert opened["id"] == life.incident.externalId
        assert opened["status"] == "01STATUSCLOSED"
        assert opened["lead"] == "01USERBO"
        assert opened["services"] == ["01ENTRYCHECKOUT", "01ENTRYPAYMENTS"]
        assert len(fake.escalations) == 1
        assert life.results[-2].message.startswith("incident.io's API has no way to write")  # the note stays in Port

    def test_an_incident_created_active_is_not_acknowledged_until_someone_accepts_one_out_of_triage(self) -> None:
        clock = FakeClock()
        for starts_active, accepted in ((True, IncidentStatus.TRIGGERED), (False, IncidentStatus.ACKNOWLEDGED)):
            fake = FakeIncidentIo(starts_active=starts_active)
            setup = VendorSetup(secret=self.SECRET, transport=httpx.MockTransport(fake), lookups=Lookups())
            opened = fresh(incidentio.build(setup), clock).trigger(incident(ProviderName.INCIDENTIO), [])
            current = incident(ProviderName.INCIDENTIO, externalId=opened.externalId, providerData=opened.providerData)
            if not starts_active:
                fake.accept(str(opened.externalId))

            reconciled = fresh(incidentio.build(setup), clock).get(current)
            reported = [e.status for payload in fake.webhooks for e in INCIDENTIO_WEBHOOK.events(payload)]

            assert reconciled.status is accepted
            assert (IncidentStatus.ACKNOWLEDGED in reported) is (not starts_active)


class TestFireHydrant:
    SECRET = MappingProxyType(
        {"botToken": "fhb-x", "commanderRoleId": "role-commander", "serviceIds": {"payments": "svc-payments"}}
    )

    def test_the_lifecycle_twice_with_every_answer_lost_leaves_one_incident_resolved_and_each_note_once(self) -> None:
        fake = FakeFireHydrant()
        transport = LostAnswers(fake)
        setup = VendorSetup(secret=self.SECRET, transport=transport, lookups=Lookups())
        clock = FakeClock()

        # A warning: FireHydrant escalates by raising the severity, which a critical one has at the top.
        life = run_every_step_twice(
            lambda: fresh(firehydrant.build(setup), clock),
            incident(ProviderName.FIREHYDRANT, severity=Severity.WARNING),
            [sample_alert()],
            ["payments"],
        )

        assert transport.lost
        (opened,) = fake.incidents.values()
        assert opened["id"] == life.incident.externalId
        assert (opened["milestone"], opened["severity"]) == ("resolved", "SEV2")
        assert opened["impacts"] == ["svc-payments"]
        assert [r["user_id"] for r in opened["roles"] if r["status"] == "active"] == ["u-bo"]
        assert len(opened["notes"]) == len(set(opened["notes"])) == 3  # the acknowledgement, the note, the resolution
        assert sum(NOTE in note for note in opened["notes"]) == 1

    def test_a_webhook_names_the_commander_by_the_configured_role_as_reconcile_does(self) -> None:
        fake = FakeFireHydrant()
        setup = VendorSetup(secret=self.SECRET, transport=httpx.MockTransport(fake), lookups=Lookups())
        clock = FakeClock()
        opened = fresh(firehydrant.build(setup), clock).trigger(incident(ProviderName.FIREHYDRANT), [])
        current = incident(ProviderName.FIREHYDRANT, externalId=opened.externalId)
        fresh(firehydrant.build(setup), clock).reassign(current, "bo@example.com", "ana@example.com")
        # FireHydrant's webhook names the role "Incident Commander"; another role is named like it, too.
        payload = {
            "event": {"resource_type": "incident", "operation": "UPDATED"},
            "data": {
                "incident": {
                    "id": opened.externalId,
                    "current_milestone": "started",
                    "role_assignments": [
                        {
                            "status": "active",
                            "incident_role": {"id": "role-x", "name": "Commander of comms"},
                            "user": {"id": "u-ana", "email": "ana@example.com"},
                        },
                        {
                            "status": "active",
                            "incident_role": {"id": "role-commander", "name": "Lead"},
                            "user": {"id": "u-bo", "email": "bo@example.com"},
                        },
                    ],
                }
            },
        }

        [event] = FIREHYDRANT_WEBHOOK.events(payload)
        settled = fresh(firehydrant.build(setup), clock).settle(event)
        reconciled = fresh(firehydrant.build(setup), clock).get(current)

        assert settled is not None
        assert settled.assignee == reconciled.assignee == "bo@example.com"
