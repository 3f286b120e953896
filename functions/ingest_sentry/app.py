"""POST /webhooks/sentry: authenticate, normalize and queue Sentry alert webhooks."""

from incident_core.ingest import make_ingest_handler
from incident_core.models import Source

handler = make_ingest_handler(Source.SENTRY)
