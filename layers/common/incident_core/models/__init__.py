"""Pydantic models at the bundle's boundaries."""

from incident_core.models.alert import Alert, AlertStatus, Severity, Source

__all__ = ["Alert", "AlertStatus", "Severity", "Source"]
