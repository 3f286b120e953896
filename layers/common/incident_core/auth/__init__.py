"""Authentication of incoming requests: monitoring-tool webhooks and Port action runs."""
