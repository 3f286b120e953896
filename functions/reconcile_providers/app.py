"""EventBridge schedule: open incidents follow their provider, the backstop for webhooks that never came."""

from incident_core.handlers import reconcile_handler as handler

__all__ = ["handler"]
