"""EventBridge schedule: resolve alerts that went silent for ALERT_STALE_AFTER_MINUTES, as stale."""

from incident_core.schedules import expire_alerts_handler as handler

__all__ = ["handler"]
