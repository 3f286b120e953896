"""POST /webhooks/newrelic: authenticate, normalize and queue New Relic alert notifications."""

from incident_core.ingest import make_ingest_handler
from incident_core.models import Source

handler = make_ingest_handler(Source.NEWRELIC)
