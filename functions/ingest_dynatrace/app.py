"""POST /webhooks/dynatrace: authenticate, normalize and queue Dynatrace problem notifications."""

from incident_core.ingest import make_ingest_handler
from incident_core.models import Source

handler = make_ingest_handler(Source.DYNATRACE)
