"""`make bench`: performance figures of the ingest path and the Port projection, printed and saved as JSON.

Not part of `make test`. Everything runs in process (moto's `mock_aws`, FakePort) or in local
subprocesses; nothing leaves the machine. Figures go to stdout and to .bench/results.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.template import REPO
from tests.bench import cold_import, latency, normalize, storm

RESULTS = REPO / ".bench" / "results.json"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join("  " + line for line in lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def section(title: str) -> None:
    print(f"\n{title}", flush=True)


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def main() -> int:
    started = time.perf_counter()
    host = machine()
    print(f"Incident Lifecycle for Port: benchmarks ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"machine: {host['cpu_count']} cores, {host['platform']}; Python {host['python']} ({sys.executable})")
    results: dict[str, Any] = {"machine": host, "started_at": datetime.now(UTC).isoformat()}

    section(
        f"1. normalize() vs json.loads of the same body (best of {normalize.REPEATS} interleaved repeats; "
        "median over each source's samples; auth with the example secrets)"
    )
    timings = normalize.run()
    print(
        table(
            ["source", "samples", "normalize µs", "json.loads µs", "ratio"],
            [[t.source, len(t.samples), t.normalize_us, t.json_loads_us, t.ratio] for t in timings],
        )
    )
    results["normalize"] = {t.source: t.as_json() for t in timings}

    section(
        f"2. webhook -> queue latency in process ({latency.WARM_UP_CALLS} warm-up calls, then the measured ones; "
        "includes moto's in-process SQS, whose share is the last column; queue purged between calls)"
    )
    latencies = latency.run()
    print(
        table(
            ["source", "sample", "calls", "alerts", "p50 ms", "p99 ms", "max ms", "SQS send p50 ms"],
            [
                [r.source, r.sample, r.calls, r.alerts_per_call, r.p50_ms, r.p99_ms, r.max_ms, r.sqs_send_p50_ms]
                for r in latencies
            ],
        )
    )
    results["ingest_latency"] = {r.source: r.as_json() for r in latencies}

    section(f"3. cold import of {cold_import.FUNCTION} (fresh interpreter, Lambda sys.path, {cold_import.RUNS} runs)")
    cold = cold_import.run()
    print(
        f"  import app: median {cold.median_ms:.0f} ms, min {cold.min_ms:.0f} ms "
        f"({cold.modules_loaded} modules in sys.modules; whole process median {cold.process_ms:.0f} ms)"
    )
    print("  top modules by cumulative import time (-X importtime; they nest):")
    print(table(["module", "cumulative ms", "self ms"], [[m.name, m.cumulative_ms, m.self_ms] for m in cold.top]))
    print("  top packages by own import time (summed self time; these add up):")
    print(table(["package", "self ms"], cold.packages))
    results["cold_import"] = cold.as_json()

    section(
        f"4. Alertmanager storm: {storm.ALERTS} alerts in one group, re-sent every interval for "
        f"{storm.INTERVALS} intervals; {len(storm.RESOLVING)} resolve at {storm.RESOLVE_AT}, "
        f"1 re-fires at {storm.REFIRE_AT}"
    )
    flood = storm.run()
    print(
        table(
            ["figure", "total", "per 1,000 notifications"],
            [
                ["webhook requests", flood.webhook_requests, flood.per_thousand(flood.webhook_requests)],
                ["notifications sent", flood.notifications, 1000.0],
                ["stored notificationCount total", flood.notification_count_total, ""],
                ["Port bulk requests", flood.bulk_requests, flood.per_thousand(flood.bulk_requests)],
                ["Port alert entity writes", flood.entity_writes, flood.per_thousand(flood.entity_writes)],
                ["Port incident entity writes", flood.incident_writes, flood.per_thousand(flood.incident_writes)],
                ["Port token requests", flood.token_requests, flood.per_thousand(flood.token_requests)],
                ["Port requests (any)", flood.port_requests, flood.per_thousand(flood.port_requests)],
            ],
        )
    )
    print(
        f"  entity writes by interval: {flood.writes_by_interval} "
        f"(expected {storm.EXPECTED_ENTITY_WRITES}: first sightings, resolves, re-fire); "
        f"storm took {flood.seconds:.1f} s"
    )
    results["storm"] = flood.as_json()

    elapsed = time.perf_counter() - started
    results["elapsed_seconds"] = elapsed
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {Path(RESULTS).relative_to(REPO)}; total {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
