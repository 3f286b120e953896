"""POST /providers/jira/webhook: changes made in the vendor's own app, signed by it, reach the incident."""

from incident_core.handlers import make_provider_webhook_handler
from incident_core.models.incident import ProviderName

handler = make_provider_webhook_handler(ProviderName.JIRA)
