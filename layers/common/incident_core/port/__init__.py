"""Port: the API client, the retry policy it shares with provider adapters, and Port resources as code."""

from incident_core.port.client import PortClient
from incident_core.retry import RetryPolicy, send_with_retries

__all__ = ["PortClient", "RetryPolicy", "send_with_retries"]
