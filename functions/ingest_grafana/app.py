"""POST /webhooks/grafana: authenticate, normalize and queue Grafana alerting notifications."""

from incident_core.ingest import make_ingest_handler
from incident_core.models import Source

handler = make_ingest_handler(Source.GRAFANA)
