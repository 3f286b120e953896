"""Cold start of the functions, the way Lambda loads them (the Init phase minus the runtime's own start).

Each run is a fresh interpreter (`sys.executable -c`): the function directory and the layer directory
(layers/common, /opt/python in Lambda) go first on sys.path, then `import app`. The figure is the whole
process, median over RUNS, against the baseline of a bare Powertools handler that also imports boto3, started
the same way and interleaved run by run. The environment holds only the function's template variables with
fake values and fake AWS credentials, with the instance metadata lookup disabled, so nothing can reach the
network. The runtime dependencies come from this interpreter's site-packages, where the layer build would
put them. A separate `-X importtime` run of the first function names the modules that cost the most.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template import REPO, functions, load_template
from tests.bench.figures import Figure
from tests.bench.harness import FAKE_AWS_ENV

FUNCTION = "IngestPrometheusFunction"
FUNCTIONS = {FUNCTION: 1.25, "AlertProcessorFunction": 1.5, "ActionAcknowledgeFunction": 1.5}
"""Functions measured, with the goal for their ratio to the baseline."""
BASELINE_HANDLER = """\
import boto3
from aws_lambda_powertools import Logger

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    return {}
"""
LAYER_DIR = REPO / "layers" / "common"
RUNS = 7
TOP_MODULES = 5
_MARKER = "--bench: import app--"


def _import_code(function_dir: str) -> str:
    """What the fresh interpreter runs: the Lambda sys.path, then the timed `import app`."""
    return "\n".join(
        [
            "import json, sys, time",
            f"sys.path[:0] = [{function_dir!r}, {str(LAYER_DIR)!r}]",
            f"sys.stderr.write({_MARKER!r} + '\\n')",
            "sys.stderr.flush()",
            "started = time.perf_counter()",
            "import app",
            "elapsed = time.perf_counter() - started",
            "import incident_core",
            "facts = {'ms': elapsed * 1000, 'modules': len(sys.modules), 'incident_core': incident_core.__file__}",
            "print(json.dumps(facts))",
        ]
    )


@dataclass(frozen=True)
class ImportModule:
    name: str
    cumulative_ms: float
    self_ms: float


@dataclass(frozen=True)
class ColdImportResult:
    function: str
    runs_ms: list[float]
    modules_loaded: int
    process_ms: float
    top: list[ImportModule]
    packages: list[tuple[str, float]]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def min_ms(self) -> float:
        return min(self.runs_ms)

    def as_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "runs_ms": self.runs_ms,
            "median_ms": self.median_ms,
            "min_ms": self.min_ms,
            "modules_in_sys_modules": self.modules_loaded,
            "median_process_wall_ms": self.process_ms,
            "top_cumulative": [
                {"module": m.name, "cumulative_ms": m.cumulative_ms, "self_ms": m.self_ms} for m in self.top
            ],
            "top_packages_self_ms": dict(self.packages),
        }


def _fake_value(name: str, value: Any, parameters: dict[str, Any]) -> str:
    """A template value without a deployed stack: a parameter's default, or a placeholder for a resource."""
    if isinstance(value, str):
        return value
    reference = value.get("Ref") if isinstance(value, dict) else None
    if reference in parameters and "Default" in parameters[reference]:
        return str(parameters[reference]["Default"])
    if name.endswith("_URL"):
        return f"https://sqs.{FAKE_AWS_ENV['AWS_REGION']}.amazonaws.com/123456789012/fake-{name.lower()}"
    return f"fake-{name.lower()}"


def _lambda_environment(function: str = FUNCTION) -> dict[str, str]:
    template = load_template()
    spec = next(f for f in functions(template) if f.logical_id == function)
    parameters = template.get("Parameters", {})
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **{name: _fake_value(name, value, parameters) for name, value in spec.environment.items()},
        **FAKE_AWS_ENV,
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "*",
    }


def _run_once(code: str, environment: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    answer = subprocess.run(
        [sys.executable, *flags, "-c", code],
        env=environment,
        cwd="/",  # nothing of the repository is importable by accident
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if answer.returncode != 0:
        raise AssertionError(f"importing app failed:\n{answer.stderr[-3000:]}")
    return answer


def _imported_modules(stderr: str) -> list[ImportModule]:
    """Parse `-X importtime` lines ("import time: self [us] | cumulative | name") after the marker,
    leaving out `app` itself (the whole import: the point is what inside it costs)."""
    _, _, after = stderr.partition(_MARKER)
    modules = []
    for line in after.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if name != "app":
            modules.append(ImportModule(name, int(cumulative_us) / 1000, int(self_us) / 1000))
    return modules


def _top_cumulative(modules: list[ImportModule]) -> list[ImportModule]:
    return sorted(modules, key=lambda m: m.cumulative_ms, reverse=True)[:TOP_MODULES]


def _top_packages(modules: list[ImportModule]) -> list[tuple[str, float]]:
    """Own import time summed per top-level package: cumulative figures nest, these add up to the total."""
    totals: dict[str, float] = {}
    for module in modules:
        package = module.name.partition(".")[0]
        totals[package] = totals.get(package, 0.0) + module.self_ms
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)[:TOP_MODULES]


def run() -> ColdImportResult:
    spec = next(f for f in functions(load_template()) if f.logical_id == FUNCTION)
    code = _import_code(str(spec.code_dir))
    environment = _lambda_environment()
    _run_once(code, environment)  # writes any missing .pyc, as the deployed package already has them
    runs, process = [], []
    facts: dict[str, Any] = {}
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = _run_once(code, environment)
        process.append((time.perf_counter() - started) * 1000)
        facts = json.loads(answer.stdout.strip().splitlines()[-1])
        runs.append(float(facts["ms"]))
    if not str(facts["incident_core"]).startswith(str(LAYER_DIR)):
        raise AssertionError(f"incident_core came from {facts['incident_core']}, not the layer directory")
    traced = _imported_modules(_run_once(code, environment, "-X", "importtime").stderr)
    return ColdImportResult(
        function=FUNCTION,
        runs_ms=runs,
        modules_loaded=int(facts["modules"]),
        process_ms=statistics.median(process),
        top=_top_cumulative(traced),
        packages=_top_packages(traced),
    )


def _process_ms(code: str, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    _run_once(code, environment)
    return (time.perf_counter() - started) * 1000


def group() -> tuple[list[Figure], dict[str, Any]]:
    """Each function's whole cold process against the bare handler's, interleaved run by run."""
    template_functions = {f.logical_id: f for f in functions(load_template())}
    with tempfile.TemporaryDirectory() as baseline_dir:
        (Path(baseline_dir) / "app.py").write_text(BASELINE_HANDLER)
        subjects = {"baseline": (_import_code(baseline_dir), _lambda_environment())}
        for name in FUNCTIONS:
            subjects[name] = (_import_code(str(template_functions[name].code_dir)), _lambda_environment(name))
        for code, environment in subjects.values():
            _run_once(code, environment)  # writes any missing .pyc, as the deployed package already has them
        runs: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(RUNS):
            for name, (code, environment) in subjects.items():
                runs[name].append(_process_ms(code, environment))
    baseline = statistics.median(runs["baseline"])
    figures = [
        Figure(
            name=f"cold start {name} (process, median of {RUNS})",
            measured=statistics.median(runs[name]),
            baseline=baseline,
            baseline_name="bare Powertools handler + boto3",
            unit="ms",
            goal=goal,
        )
        for name, goal in FUNCTIONS.items()
    ]
    detail = run()
    return figures, {"process_runs_ms": runs, FUNCTION: detail.as_json()}
