"""The incident's record in markdown: its timeline table, and the postmortem draft written on resolve.

The seed's "Resolve Incident" keeps every alert, note and status change attached to the incident "for
postmortems or retrospectives"; the incident blueprint shows both texts (`timeline`, `postmortem`). The
draft fills in what the bundle knows (summary, impact, timeline, alerts, MTTA and MTTR) and leaves the
judgement (what went well, what to improve, action items) to the team. Everything comes from the incident
and its alerts, never from a clock, so the same incident always renders the same text and re-projecting it
to Port changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from incident_core.models.alert_record import AlertRecord
from incident_core.models.incident import Incident, TimelineKind

NOT_AVAILABLE = "n/a"
_TIMELINE_HEADER = ("Time (UTC)", "Who", "What", "Reference")
_ALERTS_HEADER = ("Source", "Title", "Severity", "Status", "First seen (UTC)", "Last seen (UTC)", "Count")


def human_duration(seconds: float | None) -> str:
    """`42s`, `4m 05s`, `1h 03m`, `2d 04h`: the two largest units, whole seconds; `n/a` when unknown.

    A negative duration (an acknowledgement stamped before the incident's creation by a skewed clock)
    is unknown too.
    """
    if seconds is None or seconds < 0:
        return NOT_AVAILABLE
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def render_timeline(incident: Incident) -> str:
    """A markdown table of the timeline, oldest first (entries at the same instant keep their order)."""
    entries = sorted(incident.timeline, key=lambda entry: _utc(entry.at))
    rows = [
        (_utc_text(entry.at), entry.actor, _what(entry.kind, entry.text), _reference(entry.alert, entry.runId))
        for entry in entries
    ]
    return _table(_TIMELINE_HEADER, rows)


def render_postmortem(incident: Incident, alerts: Sequence[AlertRecord]) -> str:
    """The postmortem draft of `incident`, with `alerts` (its attached alerts) in a table."""
    sections = [
        f"# Postmortem: {_inline(incident.title)}",
        "## Summary\n\n" + _summary(incident),
        "## Impact\n\n" + _impact(incident),
        "## Timeline\n\n" + render_timeline(incident),
        "## Alerts\n\n" + _alerts(alerts),
        "## Metrics\n\n" + _metrics(incident),
        "## What went well\n\n- ",
        "## What to improve\n\n- ",
        "## Action items\n\n- [ ] ",
    ]
    return "\n\n".join(sections) + "\n"


def _summary(incident: Incident) -> str:
    resolvers = [entry.actor for entry in incident.timeline if entry.kind is TimelineKind.RESOLVED]
    return _bullets(
        [
            ("Incident", f"{incident.title} ({incident.identifier})"),
            ("Status", incident.status.value),
            ("Severity", incident.severity.value),
            ("Provider", incident.provider.value + (f" ({incident.url})" if incident.url else "")),
            ("Resolved by", resolvers[-1] if resolvers else NOT_AVAILABLE),
            ("Resolution", incident.resolution or NOT_AVAILABLE),
        ]
    )


def _impact(incident: Incident) -> str:
    return _bullets(
        [
            ("Started", _utc_text(incident.createdAt)),
            ("Resolved", _utc_text(incident.resolvedAt) if incident.resolvedAt else "not yet"),
            ("Duration", human_duration(incident.mttr_seconds)),
            ("Services", ", ".join(incident.services) or "none associated"),
            ("Impacted services (up- and downstream)", ", ".join(incident.impactedServices) or "none found"),
        ]
    )


def _alerts(alerts: Sequence[AlertRecord]) -> str:
    if not alerts:
        return "No alerts were attached."
    rows = [
        (
            alert.source.display_name,
            alert.title,
            alert.severity.value,
            alert.status.value,
            _utc_text(alert.firstSeenAt),
            _utc_text(alert.lastSeenAt),
            str(alert.notificationCount),
        )
        for alert in sorted(alerts, key=lambda alert: (_utc(alert.firstSeenAt), alert.identifier))
    ]
    return _table(_ALERTS_HEADER, rows)


def _metrics(incident: Incident) -> str:
    rows = [
        ("MTTA (time to acknowledge)", human_duration(incident.mtta_seconds)),
        ("MTTR (time to resolve)", human_duration(incident.mttr_seconds)),
    ]
    return _table(("Metric", "Value"), rows)


def _what(kind: TimelineKind, text: str) -> str:
    label = kind.value.replace("_", " ").capitalize()
    return f"{label}: {text}" if text else label


def _reference(alert: str | None, run_id: str | None) -> str:
    parts = ([f"alert {alert}"] if alert else []) + ([f"run {run_id}"] if run_id else [])
    return ", ".join(parts)


def _utc(timestamp: str) -> datetime:
    """An ISO 8601 timestamp in UTC; one without an offset is taken as UTC (the store writes UTC)."""
    parsed = datetime.fromisoformat(timestamp)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _utc_text(timestamp: str) -> str:
    return _utc(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _bullets(items: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"- **{name}:** {_inline(value)}" for name, value in items)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header)), *(_row([_cell(value) for value in row]) for row in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: str) -> str:
    """One table cell: a backslash or `|` would end or split the cell, a line break would end the row."""
    escaped = value.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(line.strip() for line in escaped.splitlines())


def _inline(value: str) -> str:
    """Text on one markdown line (a heading or a list item): line breaks become spaces."""
    return " ".join(value.split())
