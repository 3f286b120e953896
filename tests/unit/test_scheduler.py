"""The local stack's EventBridge Scheduler: rate expressions, the events it passes, and its thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.scheduler import SPEEDUP_VARIABLE, Scheduler, scheduler_event, speedup_from_environment
from devstack.template import FunctionSpec, ScheduleSpec, functions, load_template, rate_seconds
from tests.fakes import FakeClock

SPEEDUP = 600.0  # rate(1 minute) every 0.1 s


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(15 minutes)", 900),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
        ("cron(0 12 * * ? *)", None),
        ("at(2026-11-27T09:00:00)", None),
    ],
)
def test_rate_expressions_in_seconds(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression",
    ["rate(5 minute)", "rate(1 minutes)", "rate(0 minutes)", "rate(30 seconds)", "rate(5  minutes)", "every 5m", ""],
)
def test_invalid_rate_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="not a schedule expression"):
        rate_seconds(expression)


def test_the_templates_schedules() -> None:
    scheduled = {spec.logical_id: spec.schedules for spec in functions(load_template()) if spec.schedules}

    expected = {"ReconcileProvidersFunction": [300], "ExpireAlertsFunction": [900], "HeartbeatsFunction": [60]}
    assert {name: [s.period_seconds for s in scheduled.get(name, ())] for name in expected} == expected
    (heartbeats,) = scheduled["HeartbeatsFunction"]
    assert heartbeats.input is not None
    assert "<aws.scheduler.scheduled-time>" in heartbeats.input


def schedule(expression: str = "rate(1 minute)", input_text: str | None = None, name: str = "Every") -> ScheduleSpec:
    return ScheduleSpec(name=name, expression=expression, period_seconds=rate_seconds(expression), input=input_text)


def test_the_event_is_the_input_with_the_context_keywords_filled_in() -> None:
    text = (
        '{"scheduledTime": "<aws.scheduler.scheduled-time>", "arn": "<aws.scheduler.schedule-arn>",'
        ' "execution": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>", "fixed": 1}'
    )
    event = scheduler_event(
        "HeartbeatsFunction", schedule(input_text=text), datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC)
    )

    assert event["scheduledTime"] == "2026-11-27T09:00:05Z"
    assert event["arn"].endswith(":schedule/default/HeartbeatsFunctionEvery")
    assert len(event["execution"]) == 16
    assert (event["attempt"], event["fixed"]) == ("1", 1)
    assert scheduler_event("X", schedule(), datetime.now(UTC)) == {}


class Recorder:
    """A scheduled function that records its invocations (and fails when told to)."""

    def __init__(self, logical_id: str, *schedules: ScheduleSpec, fail: bool = False) -> None:
        self.spec = FunctionSpec(
            logical_id=logical_id,
            code_dir=Path("."),
            handler="app.handler",
            environment={},
            routes=(),
            queue_sources=(),
            schedules=schedules,
        )
        self.fail = fail
        self.events: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self.work: Callable[[], object] = lambda: None
        """What a run does besides being recorded (takes time on a fake clock, signals a test)."""

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        self.threads.add(threading.current_thread().name)
        self.work()
        if self.fail:
            raise RuntimeError("boom")
        return {"invocations": len(self.events)}


def test_each_schedule_runs_at_its_sped_up_rate(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock(1000.0)
    fast = Recorder("Fast", schedule("rate(1 minute)", '{"t": "<aws.scheduler.scheduled-time>"}'))
    slow = Recorder("Slow", schedule("rate(3 minutes)"))
    failing = Recorder("Failing", schedule("rate(1 minute)"), fail=True)
    scheduler = Scheduler([fast, slow, failing], speedup=SPEEDUP, clock=clock)

    scheduler.arm()
    assert scheduler.run_due() == pytest.approx(0.1)
    assert fast.events == []  # like Scheduler: the first run comes one period after the start
    for _ in range(10):  # one second at 600 times the speed: ten minutes
        clock.advance(0.1)
        scheduler.run_due()

    assert (len(fast.events), len(slow.events), len(failing.events)) == (10, 3, 10)  # a failure stops nothing
    assert all(set(event) == {"t"} and event["t"].endswith("Z") for event in fast.events)
    assert slow.events[0] == {}
    output = capsys.readouterr().out
    assert "Fast: rate(1 minute) ran" in output
    assert "Failing failed: RuntimeError: boom" in output


def test_a_run_longer_than_its_period_is_not_caught_up_in_a_burst() -> None:
    clock = FakeClock(1000.0)
    slow_run = Recorder("Slow", schedule("rate(1 minute)"))
    slow_run.work = lambda: clock.advance(0.35)  # three and a half periods
    scheduler = Scheduler([slow_run], speedup=SPEEDUP, clock=clock)
    scheduler.arm()
    clock.advance(0.1)

    assert scheduler.run_due() == pytest.approx(0.1)  # the next run one period after this one ended
    assert len(slow_run.events) == 1


def test_the_thread_runs_schedules_until_stopped() -> None:
    fast = Recorder("Fast", schedule("rate(1 minute)"))
    ran = threading.Event()
    fast.work = ran.set
    scheduler = Scheduler([fast], speedup=SPEEDUP)
    scheduler.start()
    assert ran.wait(timeout=60)  # room for a loaded machine: a run is due every 0.1 s
    scheduler.stop()

    assert "scheduler" not in {thread.name for thread in threading.enumerate()}  # nothing runs after stop
    assert fast.threads == {"scheduler"}


def test_fire_runs_a_schedule_now_in_the_callers_thread() -> None:
    heartbeat = Recorder("Heartbeats", schedule(input_text='{"scheduledTime": "<aws.scheduler.scheduled-time>"}'))
    scheduler = Scheduler([heartbeat, Recorder("Api")])

    assert scheduler.fire("Heartbeats") == {"invocations": 1}
    assert heartbeat.threads == {threading.current_thread().name}
    assert set(heartbeat.events[0]) == {"scheduledTime"}
    with pytest.raises(KeyError, match="Api has no schedule; scheduled functions: Heartbeats"):
        scheduler.fire("Api")
    with pytest.raises(KeyError, match="Nope has no schedule"):
        scheduler.fire("Nope")


def test_cron_schedules_are_noted_and_only_fired_on_demand(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock(1000.0)
    nightly = Recorder("Nightly", schedule("cron(0 3 * * ? *)"))
    hourly = Recorder("Hourly", schedule("rate(1 hour)"))
    scheduler = Scheduler([nightly, hourly], speedup=SPEEDUP, clock=clock)
    scheduler.arm()
    clock.advance(86_400 / SPEEDUP)  # a day
    scheduler.run_due()

    assert nightly.events == []
    assert len(hourly.events) == 1  # every hour is due; one run, not a burst of 24
    assert "Nightly: cron(0 3 * * ? *) is not run locally" in capsys.readouterr().out
    scheduler.fire("Nightly")
    assert len(nightly.events) == 1


def test_the_speedup_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPEEDUP_VARIABLE, raising=False)
    assert speedup_from_environment() == 1.0
    monkeypatch.setenv(SPEEDUP_VARIABLE, "400")
    clock = FakeClock(1000.0)
    fast = Recorder("Fast", schedule("rate(1 minute)"))
    scheduler = Scheduler.launch([fast], start=False, clock=clock)
    scheduler.arm()
    clock.advance(0.14)
    scheduler.run_due()
    assert fast.events == []
    clock.advance(0.01)  # one minute at 400 times the speed: 0.15 s
    scheduler.run_due()
    assert len(fast.events) == 1

    monkeypatch.setenv(SPEEDUP_VARIABLE, "fast")
    with pytest.raises(ValueError, match=f"{SPEEDUP_VARIABLE} must be a positive number, not 'fast'"):
        Scheduler.launch([fast])
    monkeypatch.setenv(SPEEDUP_VARIABLE, "0")
    with pytest.raises(ValueError, match="must be positive"):
        Scheduler.launch([fast])
