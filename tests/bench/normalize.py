"""Normalization cost per source, as a multiple of `json.loads` of the same body.

Both are timed in this process in CPU time, interleaved repeat by repeat, and the best repeat of each is
kept, so the ratio holds on a slow or a busy machine. A source's figure sums its samples: normalize of all
of them against json.loads of the same bodies. `normalize` authenticates with the example secrets (a parsed
`WebhookSecrets`, as the ingest handler holds it) and without `now`, so the signed-timestamp freshness
check of the recorded samples is skipped; everything else of the ingest path's normalization runs.
"""

from __future__ import annotations

import json
import time
import timeit
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from incident_core.auth.webhooks import WebhookSecrets
from incident_core.models import Source
from incident_core.normalizers import normalize
from tests.bench.figures import Figure
from tests.events import example_secrets, webhook_event, webhook_event_names

REPEATS = 9
TARGET_SECONDS_PER_REPEAT = 0.01
CLOCK = time.process_time
"""CPU time of this process: a neighbour busy on the same cores slows both sides without counting here."""


@dataclass(frozen=True)
class SampleTiming:
    sample: str
    body_bytes: int
    alerts: int
    normalize_us: float
    json_loads_us: float

    @property
    def ratio(self) -> float:
        return self.normalize_us / self.json_loads_us


GOAL = 2.0


@dataclass(frozen=True)
class SourceTiming:
    source: str
    samples: list[SampleTiming]

    @property
    def normalize_us(self) -> float:
        return sum(s.normalize_us for s in self.samples)

    @property
    def json_loads_us(self) -> float:
        return sum(s.json_loads_us for s in self.samples)

    def figure(self) -> Figure:
        return Figure(
            name=f"normalize {self.source} ({len(self.samples)} samples)",
            measured=self.normalize_us,
            baseline=self.json_loads_us,
            baseline_name="json.loads",
            unit="µs",
            goal=GOAL,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "normalize_us": self.normalize_us,
            "json_loads_us": self.json_loads_us,
            "samples": {s.sample: {**asdict(s), "ratio": s.ratio} for s in self.samples},
        }


def _calls_per_repeat(call: Callable[[], object]) -> int:
    """Enough calls for one repeat to last about TARGET_SECONDS_PER_REPEAT (timer noise stays small)."""
    timer = timeit.Timer(call, timer=CLOCK)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= TARGET_SECONDS_PER_REPEAT / 10:
            return max(1, round(number * TARGET_SECONDS_PER_REPEAT / elapsed))
        number *= 10


def time_sample(source: Source, name: str, secrets: WebhookSecrets) -> SampleTiming:
    headers, body = webhook_event(source.value, name)
    alerts = normalize(source, headers, body, secrets)  # fails loudly if a sample stopped verifying

    def normalize_call() -> object:
        return normalize(source, headers, body, secrets)

    def json_call() -> object:
        return json.loads(body)

    normalize_timer, json_timer = timeit.Timer(normalize_call, timer=CLOCK), timeit.Timer(json_call, timer=CLOCK)
    normalize_number, json_number = _calls_per_repeat(normalize_call), _calls_per_repeat(json_call)
    best_normalize = best_json = float("inf")
    for _ in range(REPEATS):  # interleaved: a slow spell of the machine hits both sides alike
        best_normalize = min(best_normalize, normalize_timer.timeit(normalize_number) / normalize_number)
        best_json = min(best_json, json_timer.timeit(json_number) / json_number)
    return SampleTiming(name, len(body), len(alerts), best_normalize * 1e6, best_json * 1e6)


def run() -> list[SourceTiming]:
    secrets = WebhookSecrets.from_json(example_secrets())
    results = []
    for source in Source:
        samples = [time_sample(source, name, secrets) for name in webhook_event_names(source.value)]
        if not samples:
            raise AssertionError(f"no samples in events/webhooks/{source.value}/")
        results.append(SourceTiming(source=source.value, samples=samples))
    return results


def group() -> tuple[list[Figure], dict[str, Any]]:
    timings = run()
    details = {"repeats": REPEATS, "clock": "process_time", **{t.source: t.as_json() for t in timings}}
    return [t.figure() for t in timings], details
