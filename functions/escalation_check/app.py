"""Escalation state machine task after the wait: stop, or move on to the next level, round or fallback."""

from incident_core.handlers import escalation_check_handler as handler

__all__ = ["handler"]
