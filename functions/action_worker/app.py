"""SQS consumer of queued Port action runs: runs each step once and reports back to Port."""

from incident_core.handlers import action_worker_handler as handler

__all__ = ["handler"]
