"""EventBridge Scheduler, locally: one thread invokes each function's `ScheduleV2` schedules at their rate.

`DEVSTACK_SCHEDULE_SPEEDUP` (default 1) divides every period, so a 15-minute job can be watched in
seconds. Each invocation gets what Scheduler would pass: the schedule's `Input` with its
`<aws.scheduler.*>` keywords filled in (`{}` without one). `cron(...)` and `at(...)` schedules are not
run (a note says so at start); `fire` runs any scheduled function on demand, in the caller's thread.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from devstack.template import FunctionSpec, ScheduleSpec

SPEEDUP_VARIABLE = "DEVSTACK_SCHEDULE_SPEEDUP"
SCHEDULE_ARN_PREFIX = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/"


class Invocable(Protocol):
    """A function of the local stack (`devstack.runtime.LocalFunction`)."""

    @property
    def spec(self) -> FunctionSpec: ...

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]: ...


def speedup_from_environment() -> float:
    raw = os.environ.get(SPEEDUP_VARIABLE, "1")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{SPEEDUP_VARIABLE} must be a positive number, not {raw!r}") from None


def scheduler_event(logical_id: str, schedule: ScheduleSpec, scheduled_time: datetime) -> dict[str, Any]:
    """The event Scheduler hands the function for one run of `schedule`."""
    context = {
        "<aws.scheduler.schedule-arn>": f"{SCHEDULE_ARN_PREFIX}{logical_id}{schedule.name}",
        "<aws.scheduler.scheduled-time>": scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": uuid.uuid4().hex[:16],
        "<aws.scheduler.attempt-number>": "1",
    }
    text = schedule.input or "{}"
    for keyword, value in context.items():
        text = text.replace(keyword, value)
    event: dict[str, Any] = json.loads(text)
    return event


@dataclass
class _Job:
    function: Invocable
    schedule: ScheduleSpec
    period: float
    due: float = 0.0
    """The scheduler's clock (`time.monotonic()`) at the next run."""


class Scheduler:
    """The `rate()` schedules of the local stack's functions, run by one thread (`start`/`stop`) or on demand."""

    def __init__(
        self,
        functions: Iterable[Invocable],
        *,
        speedup: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speedup <= 0:
            raise ValueError(f"the schedule speed-up ({SPEEDUP_VARIABLE}) must be positive, not {speedup}")
        self._functions = {function.spec.logical_id: function for function in functions}
        self._jobs: list[_Job] = []
        for function in self._functions.values():
            for schedule in function.spec.schedules:
                if schedule.period_seconds is None:
                    print(
                        f"  {function.spec.logical_id}: {schedule.expression} is not run locally (only rate() is);"
                        " fire it with stack.scheduler.fire()",
                        flush=True,
                    )
                    continue
                period = schedule.period_seconds / speedup
                self._jobs.append(_Job(function, schedule, period))
        self._clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    @classmethod
    def launch(
        cls, functions: Iterable[Invocable], *, start: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> Scheduler:
        """The local stack's scheduler, sped up by DEVSTACK_SCHEDULE_SPEEDUP; running unless `start` is False."""
        scheduler = cls(functions, speedup=speedup_from_environment(), clock=clock)
        if start:
            scheduler.start()
        return scheduler

    def start(self) -> None:
        """Arm the schedules and run them in the scheduler's thread."""
        self.arm()
        if self._jobs:
            self._thread.start()

    def arm(self) -> None:
        """Like Scheduler, the first run of each schedule comes one period after now."""
        now = self._clock()
        for job in self._jobs:
            job.due = now + job.period

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=35)  # an invocation in progress finishes first

    def fire(self, logical_id: str) -> dict[str, Any]:
        """Run `logical_id`'s (first) schedule now and return what the function returned."""
        function = self._functions.get(logical_id)
        if function is None or not function.spec.schedules:
            scheduled = sorted(lid for lid, f in self._functions.items() if f.spec.schedules)
            raise KeyError(f"{logical_id} has no schedule; scheduled functions: {', '.join(scheduled)}")
        return function.invoke(scheduler_event(logical_id, function.spec.schedules[0], datetime.now(UTC)))

    def run_due(self) -> float:
        """Run every schedule that is due now, each once; the seconds until the next one is due."""
        for job in sorted(self._jobs, key=lambda j: j.due):
            if job.due > self._clock():
                continue
            logical_id = job.function.spec.logical_id
            try:
                job.function.invoke(scheduler_event(logical_id, job.schedule, datetime.now(UTC)))
                print(f"  {logical_id}: {job.schedule.expression} ran", flush=True)
            except Exception as exc:  # like Scheduler: this run failed, the next one comes at its time
                print(f"  {logical_id} failed: {exc.__class__.__name__}: {exc}", flush=True)
            job.due += job.period
            if job.due < self._clock():  # runs that took longer than the period are not caught up in a burst
                job.due = self._clock() + job.period
        return min(job.due for job in self._jobs) - self._clock()

    def _run(self) -> None:
        while not self._stopping.is_set():
            delay = self.run_due()
            if delay > 0:
                self._stopping.wait(delay)
