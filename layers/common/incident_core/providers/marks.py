"""The mark every note, comment or work note this bundle writes carries, so it is applied once.

A note is not idempotent anywhere: sent twice, it is there twice. Each write of ours therefore ends with a
mark naming the incident, the kind of step and its ordinal (`[port:inc-1:note:3]`). Before writing again
after a lost answer (or when the queue runs the step again), the adapter looks for its mark among the
vendor's notes; and a vendor webhook that reports a note carrying a mark is our own write coming back, not
news. The ordinal counts the timeline entries of that kind: the lifecycle records a step only after its
provider answered, so a repeated step counts the same.
"""

from __future__ import annotations

import re

from incident_core.models.incident import Incident, TimelineKind

_MARK = re.compile(r"\[port:[^\]\s]+\]")


def write_mark(incident: Incident, kind: TimelineKind) -> str:
    ordinal = sum(1 for entry in incident.timeline if entry.kind is kind) + 1
    return f"[port:{incident.identifier}:{kind.value}:{ordinal}]"


def marked(text: str, mark: str) -> str:
    return f"{text}\n\n{mark}"


def carries_mark(text: str | None) -> bool:
    """Whether `text` was written by this bundle (it carries a mark)."""
    return bool(text and _MARK.search(text))


def carries(text: str | None, mark: str) -> bool:
    return bool(text and mark in text)
