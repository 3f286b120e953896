"""POST /actions/associate-services: Port's "associate services" action, verified and queued for the worker."""

from incident_core.handlers import make_action_handler
from incident_core.models.incident import LifecycleStep

handler = make_action_handler(LifecycleStep.ASSOCIATE_SERVICES)
