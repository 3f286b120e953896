"""POST /webhooks/prometheus: authenticate, normalize and queue Alertmanager notifications."""

from incident_core.ingest import make_ingest_handler
from incident_core.models import Source

handler = make_ingest_handler(Source.PROMETHEUS)
