"""Metrics as CloudWatch embedded metric format (Powertools), in the namespace every function shares."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

METRICS_NAMESPACE = "IncidentLifecycle"


def record_metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One data point with its own dimensions (no state shared between handlers in one process)."""
    with single_metric(name=name, unit=unit, value=value, namespace=METRICS_NAMESPACE) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(name=dimension, value=dimension_value)
