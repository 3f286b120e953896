"""EventBridge schedule: raise an alert when a heartbeat (HEARTBEATS) stops arriving, resolve it when it is back."""

from incident_core.schedules import heartbeats_handler as handler

__all__ = ["handler"]
