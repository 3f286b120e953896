"""POST /actions/find-expert: Port's "find-expert" actions; verified, validated and queued for the action worker."""

from incident_core.handlers import make_action_handler
from incident_core.models.incident import LifecycleStep

handler = make_action_handler(LifecycleStep.FIND_EXPERT)
