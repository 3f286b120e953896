"""`make bench`: every figure of the performance issue in one table, each against a baseline measured in the
same run, printed and saved to .bench/results.json.

`python -m tests.bench` runs every group; `python -m tests.bench normalize storm` runs those only. Not part of
`make test`: everything runs in process (moto's `mock_aws`, FakePort) or in local subprocesses, and nothing
leaves the machine. A new series is one more entry in GROUPS (a function returning `Figure`s).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from devstack.template import REPO
from tests.bench import cold_import, latency, normalize, storm
from tests.bench.figures import Figure, Group, table

RESULTS = REPO / ".bench" / "results.json"
GROUPS: dict[str, Group] = {
    "normalize": normalize.group,
    "cold": cold_import.group,
    "storm": storm.group,
    "latency": latency.group,
}


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def main(arguments: list[str]) -> int:
    unknown = [name for name in arguments if name not in GROUPS]
    if unknown:
        print(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    chosen = arguments or list(GROUPS)
    started = time.perf_counter()
    host = machine()
    print(f"Incident Lifecycle for Port: benchmarks ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"machine: {host['cpu_count']} cores, {host['platform']}; Python {host['python']} ({sys.executable})")
    results: dict[str, Any] = {"machine": host, "started_at": datetime.now(UTC).isoformat(), "details": {}}
    figures: list[Figure] = []
    for name in chosen:
        print(f"running {name} ...", flush=True)
        measured, details = GROUPS[name]()
        figures += measured
        results["details"][name] = details
    print()
    print(table(figures))
    results["figures"] = [figure.as_json() for figure in figures]
    results["elapsed_seconds"] = time.perf_counter() - started
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}; total {results['elapsed_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
