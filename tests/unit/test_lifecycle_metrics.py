"""MTTA and MTTR reach CloudWatch (Powertools EMF) per service and severity."""

from __future__ import annotations

import json

import pytest

from incident_core.handlers import _record_lifecycle_metrics
from incident_core.models.alert import Severity
from incident_core.models.incident import Incident, IncidentStatus, LifecycleStep
from incident_core.usecases.incident_toolkit import StepOutcome


def _outcome(**changes: object) -> StepOutcome:
    fields: dict[str, object] = {"services": ("checkout", "payments"), **changes}
    incident = Incident(
        identifier="inc-1",
        title="Checkout down",
        severity=Severity.CRITICAL,
        createdAt="2026-11-27T09:00:00.000Z",
        **fields,  # type: ignore[arg-type]
    )
    return StepOutcome(incident=incident, summary="", logs=[])


def _emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def test_acknowledge_emits_mtta_per_service_and_severity(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _outcome(status=IncidentStatus.ACKNOWLEDGED, acknowledgedAt="2026-11-27T09:04:30.000Z")
    _record_lifecycle_metrics(outcome, LifecycleStep.ACKNOWLEDGE)

    emitted = _emitted(capsys)
    assert [(m["service"], m["severity"], m["MTTA"]) for m in emitted] == [
        ("checkout", "critical", [270.0]),
        ("payments", "critical", [270.0]),
    ]
    assert emitted[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "MTTA", "Unit": "Seconds"}]  # type: ignore[index]


def test_resolve_emits_mttr(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _outcome(status=IncidentStatus.RESOLVED, resolvedAt="2026-11-27T10:00:00.000Z", services=())
    _record_lifecycle_metrics(outcome, LifecycleStep.RESOLVE)

    (metric,) = _emitted(capsys)
    assert (metric["service"], metric["MTTR"]) == ("none", [3600.0])


def test_other_steps_emit_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    _record_lifecycle_metrics(_outcome(), LifecycleStep.ADD_NOTE)
    assert _emitted(capsys) == []
