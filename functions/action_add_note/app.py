"""POST /actions/add-note: Port's "add-note" action; verified, validated and queued for the action worker."""

from incident_core.handlers import make_action_handler
from incident_core.models.incident import LifecycleStep

handler = make_action_handler(LifecycleStep.ADD_NOTE)
