"""The incident's markdown record: `human_duration`, the timeline table (order, escaping) and the
postmortem draft (sections, summary, impact, alerts table, MTTA/MTTR, the skeleton for the team).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from incident_core.models import AlertStatus, Severity, Source
from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, IncidentStatus, ProviderName, TimelineEntry, TimelineKind
from incident_core.usecases.postmortem import human_duration, render_postmortem, render_timeline

CREATED = "2026-11-27T08:14:03Z"
ACKNOWLEDGED = "2026-11-27T08:18:15Z"  # 4m 12s later
RESOLVED = "2026-11-27T09:17:30.500Z"  # 1h 03m 27.5s later

TIMELINE = (
    TimelineEntry(
        at=CREATED, kind=TimelineKind.TRIGGERED, actor="system", text="Opened from an alert", alert="datadog-4711"
    ),
    TimelineEntry(
        at="2026-11-27T08:15:00Z",
        kind=TimelineKind.ALERT_ATTACHED,
        actor="prometheus",
        text="HighLatency",
        alert="prometheus-9a",
    ),
    TimelineEntry(
        at=ACKNOWLEDGED, kind=TimelineKind.ACKNOWLEDGED, actor="alice@example.com", text="Looking", runId="r_ack"
    ),
    TimelineEntry(
        at="2026-11-27T08:40:00Z",
        kind=TimelineKind.NOTE,
        actor="bob@example.com",
        text="Rolled back v1.2 | v1.1\nthen the error rate fell",
        runId="r_note",
    ),
    TimelineEntry(
        at=RESOLVED,
        kind=TimelineKind.RESOLVED,
        actor="alice@example.com",
        text="Fixed by the rollback",
        runId="r_resolve",
    ),
)


def _incident(**changes: Any) -> Incident:
    fields: dict[str, Any] = {
        "identifier": "inc-checkout-errors",
        "title": "Checkout errors",
        "status": IncidentStatus.RESOLVED,
        "severity": Severity.CRITICAL,
        "provider": ProviderName.PAGERDUTY,
        "url": "https://example.pagerduty.com/incidents/Q1",
        "createdAt": CREATED,
        "acknowledgedAt": ACKNOWLEDGED,
        "resolvedAt": RESOLVED,
        "resolution": "Rolled back the release",
        "services": ("checkout",),
        "impactedServices": ("storefront", "payments"),
        "timeline": TIMELINE,
    }
    return Incident(**(fields | changes))


def _alert(source: Source, external_id: str, first_seen: str, **changes: Any) -> AlertRecord:
    fields: dict[str, Any] = {
        "source": source,
        "externalId": external_id,
        "identifier": f"{source.value}-{external_id}",
        "title": "High error rate",
        "description": "",
        "severity": Severity.CRITICAL,
        "status": AlertStatus.RESOLVED,
        "statusReceivedAt": first_seen,
        "firstSeenAt": first_seen,
        "lastSeenAt": "2026-11-27T09:10:00.000Z",
        "notificationCount": 3,
    }
    return AlertRecord(**(fields | changes))


ALERTS = [
    _alert(Source.PROMETHEUS, "9a", "2026-11-27T08:15:00.000Z", title="HighLatency | p99", severity=Severity.HIGH),
    _alert(Source.DATADOG, "4711", "2026-11-27T08:13:58.000Z", notificationCount=12),
]


def _cells(row: str) -> list[str]:
    """A markdown table row's cells as GFM splits them: `\\x` is an escaped character, `|` a boundary."""
    assert row.startswith("| ")
    assert row.endswith(" |")
    cells, current, index = [], "", 1
    while index < len(row) - 1:
        char = row[index]
        if char == "\\":
            current += row[index : index + 2]
            index += 2
            continue
        if char == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += char
        index += 1
    cells.append(current.strip())
    return cells


def _table(markdown: str) -> list[list[str]]:
    """The cells of a table (header row first, delimiter row dropped); the text must hold only it."""
    lines = markdown.split("\n")
    assert _cells(lines[1]) == ["---"] * len(_cells(lines[0]))
    return [_cells(line) for line in lines[:1] + lines[2:]]


def _section(markdown: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n\n(.*?)(?=\n\n## |\n\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert match, f"no section {heading!r}"
    return match.group(1)


# --- human_duration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "n/a"),
        (-1.0, "n/a"),
        (0, "0s"),
        (0.9, "0s"),
        (42.7, "42s"),
        (60, "1m 00s"),
        (252, "4m 12s"),
        (3599.99, "59m 59s"),
        (3600, "1h 00m"),
        (3807.5, "1h 03m"),
        (86399, "23h 59m"),
        (2 * 86400 + 4 * 3600 + 59, "2d 04h"),
    ],
)
def test_human_duration_shows_the_two_largest_units(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


# --- render_timeline ----------------------------------------------------------------------------------------


def test_the_timeline_is_a_table_of_time_who_what_and_reference() -> None:
    rows = _table(render_timeline(_incident()))

    assert rows == [
        ["Time (UTC)", "Who", "What", "Reference"],
        ["2026-11-27 08:14:03", "system", "Triggered: Opened from an alert", "alert datadog-4711"],
        ["2026-11-27 08:15:00", "prometheus", "Alert attached: HighLatency", "alert prometheus-9a"],
        ["2026-11-27 08:18:15", "alice@example.com", "Acknowledged: Looking", "run r_ack"],
        [
            "2026-11-27 08:40:00",
            "bob@example.com",
            r"Note: Rolled back v1.2 \| v1.1<br>then the error rate fell",
            "run r_note",
        ],
        ["2026-11-27 09:17:30", "alice@example.com", "Resolved: Fixed by the rollback", "run r_resolve"],
    ]


def test_timeline_rows_are_in_time_order_and_simultaneous_entries_keep_theirs() -> None:
    late_arrival = TimelineEntry(at="2026-11-27T09:14:03+01:00", kind=TimelineKind.NOTE, actor="carol", text="first")
    same_instant = TimelineEntry(at="2026-11-27T08:14:03", kind=TimelineKind.NOTE, actor="dave", text="second")
    incident = _incident(timeline=(*TIMELINE, late_arrival, same_instant))

    rows = _table(render_timeline(incident))[1:]

    assert [row[1] for row in rows[:4]] == ["system", "carol", "dave", "prometheus"]
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)


def test_timeline_cells_escape_pipes_backslashes_and_line_breaks() -> None:
    entry = TimelineEntry(
        at=CREATED,
        kind=TimelineKind.NOTE,
        actor="ops|bot",
        text="a | b\r\nc\\|d\n\ne\\",
        alert="x|y",
        runId="r_1",
    )

    rendered = render_timeline(_incident(timeline=(entry,)))

    assert len(rendered.split("\n")) == 3
    assert _table(rendered)[1] == [
        "2026-11-27 08:14:03",
        r"ops\|bot",
        r"Note: a \| b<br>c\\\|d<br><br>e\\",
        r"alert x\|y, run r_1",
    ]


def test_an_empty_timeline_is_a_header_only() -> None:
    assert (
        render_timeline(_incident(timeline=())) == "| Time (UTC) | Who | What | Reference |\n| --- | --- | --- | --- |"
    )


# --- render_postmortem --------------------------------------------------------------------------------------


def test_the_draft_has_every_section_in_order() -> None:
    draft = render_postmortem(_incident(), ALERTS)

    headings = re.findall(r"^#+ .*$", draft, re.MULTILINE)
    assert headings == [
        "# Postmortem: Checkout errors",
        "## Summary",
        "## Impact",
        "## Timeline",
        "## Alerts",
        "## Metrics",
        "## What went well",
        "## What to improve",
        "## Action items",
    ]
    assert draft.endswith("## Action items\n\n- [ ] \n")


def test_the_summary_names_title_severity_provider_resolver_and_resolution() -> None:
    summary = _section(render_postmortem(_incident(), ALERTS), "Summary")

    assert summary == (
        "- **Incident:** Checkout errors (inc-checkout-errors)\n"
        "- **Status:** resolved\n"
        "- **Severity:** critical\n"
        "- **Provider:** pagerduty (https://example.pagerduty.com/incidents/Q1)\n"
        "- **Resolved by:** alice@example.com\n"
        "- **Resolution:** Rolled back the release"
    )


def test_the_impact_gives_duration_and_services() -> None:
    impact = _section(render_postmortem(_incident(), ALERTS), "Impact")

    assert impact == (
        "- **Started:** 2026-11-27 08:14:03\n"
        "- **Resolved:** 2026-11-27 09:17:30\n"
        "- **Duration:** 1h 03m\n"
        "- **Services:** checkout\n"
        "- **Impacted services (up- and downstream):** storefront, payments"
    )


def test_the_timeline_section_is_the_timeline_table() -> None:
    incident = _incident()

    assert _section(render_postmortem(incident, ALERTS), "Timeline") == render_timeline(incident)


def test_the_alerts_table_lists_each_alert_by_first_sighting() -> None:
    rows = _table(_section(render_postmortem(_incident(), ALERTS), "Alerts"))

    assert rows == [
        ["Source", "Title", "Severity", "Status", "First seen (UTC)", "Last seen (UTC)", "Count"],
        ["Datadog", "High error rate", "critical", "resolved", "2026-11-27 08:13:58", "2026-11-27 09:10:00", "12"],
        ["Prometheus", r"HighLatency \| p99", "high", "resolved", "2026-11-27 08:15:00", "2026-11-27 09:10:00", "3"],
    ]


def test_without_alerts_the_section_says_so() -> None:
    assert _section(render_postmortem(_incident(), []), "Alerts") == "No alerts were attached."


def test_metrics_give_mtta_and_mttr_in_human_form() -> None:
    rows = _table(_section(render_postmortem(_incident(), ALERTS), "Metrics"))

    assert rows == [
        ["Metric", "Value"],
        ["MTTA (time to acknowledge)", "4m 12s"],
        ["MTTR (time to resolve)", "1h 03m"],
    ]


def test_an_unresolved_incident_has_no_mttr_resolver_or_duration() -> None:
    incident = _incident(
        status=IncidentStatus.ACKNOWLEDGED, resolvedAt=None, resolution=None, timeline=TIMELINE[:4], url=None
    )

    draft = render_postmortem(incident, ALERTS)

    assert _table(_section(draft, "Metrics"))[1:] == [
        ["MTTA (time to acknowledge)", "4m 12s"],
        ["MTTR (time to resolve)", "n/a"],
    ]
    summary = _section(draft, "Summary")
    assert "- **Provider:** pagerduty\n" in summary
    assert "- **Resolved by:** n/a\n" in summary
    assert summary.endswith("- **Resolution:** n/a")
    impact = _section(draft, "Impact")
    assert "- **Resolved:** not yet\n- **Duration:** n/a\n" in impact


def test_an_unacknowledged_incident_has_no_mtta() -> None:
    draft = render_postmortem(_incident(acknowledgedAt=None), ALERTS)

    assert _table(_section(draft, "Metrics"))[1] == ["MTTA (time to acknowledge)", "n/a"]


def test_an_incident_without_services_says_none() -> None:
    impact = _section(render_postmortem(_incident(services=(), impactedServices=()), ALERTS), "Impact")

    assert "- **Services:** none associated\n- **Impacted services (up- and downstream):** none found" in impact


def test_line_breaks_in_title_and_resolution_stay_on_their_line() -> None:
    draft = render_postmortem(_incident(title="Checkout\nerrors", resolution="Rolled back\n\nthe release"), ALERTS)

    assert draft.startswith("# Postmortem: Checkout errors\n\n")
    assert "- **Resolution:** Rolled back the release\n" in draft


def test_the_skeleton_leaves_judgement_to_the_team() -> None:
    draft = render_postmortem(_incident(), ALERTS)

    assert _section(draft, "What went well") == "- "
    assert _section(draft, "What to improve") == "- "
    assert _section(draft, "Action items") == "- [ ] "


def test_the_same_incident_renders_the_same_text() -> None:
    assert render_postmortem(_incident(), ALERTS) == render_postmortem(_incident(), list(reversed(ALERTS)))
