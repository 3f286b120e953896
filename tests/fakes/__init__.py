"""In-process fakes of what the bundle talks to, for tests (no sockets)."""

from __future__ import annotations


class FakeClock:
    """Epoch seconds that move only when told to; `sleep` records each wait and moves time by it.

    Pass `clock` as the clock and `clock.sleep` as the sleep of code under test (and of its fakes).
    """

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
