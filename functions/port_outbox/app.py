"""EventBridge schedule: send Port the entities it could not take before, with backoff (the Port outbox)."""

from incident_core.schedules import port_outbox_handler as handler

__all__ = ["handler"]
