"""Shared pieces of the benchmarks: the in-process stack outside pytest, quiet handler logs, percentiles."""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from devstack.stack import REGION
from incident_core import aws
from tests.integration.conftest import Stack, build_stack

# The same fake credentials as the `aws_env` fixture of tests/integration/conftest.py.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def local_stack() -> Iterator[Stack]:
    """The integration tests' stack (moto's `mock_aws`, real handlers, FakePort), set up like the
    `aws_env` + `stack` fixtures, and torn down with every environment change undone."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in FAKE_AWS_ENV.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            aws.reset_clients()
            parameters.clear_caches()
            try:
                yield build_stack(monkeypatch)
            finally:
                aws.reset_clients()
                parameters.clear_caches()


@contextmanager
def handler_logs_captured() -> Iterator[None]:
    """Send file descriptor 1 to a temporary file while handlers run.

    Powertools writes one JSON line per log call to stdout (CloudWatch in Lambda); the writes still happen,
    so their cost stays in the figures, but they do not bury the report. On an error the tail is shown.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            if failed:
                sink.seek(max(0, sink.seek(0, os.SEEK_END) - 4000))
                tail = sink.read().decode(errors="replace")
                print(f"--- last handler output before the failure ---\n{tail}", file=sys.stderr)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 samples is the 990th smallest)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
