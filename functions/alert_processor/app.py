"""SQS consumer of the alert queue: dedup, store, correlate, auto-trigger and project alerts to Port."""

from incident_core.handlers import alert_processor_handler as handler

__all__ = ["handler"]
