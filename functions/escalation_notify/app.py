"""Escalation state machine task: page the current level of the policy, unless acknowledged or resolved."""

from incident_core.handlers import escalation_notify_handler as handler

__all__ = ["handler"]
