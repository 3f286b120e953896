"""A Port action run as it reaches us: our body template, or Port's legacy default run payload."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from incident_core.bounds import check_identifier
from incident_core.errors import MalformedRequest
from incident_core.models.alert import PORT_IDENTIFIER_MAX, Severity
from incident_core.models.incident import LifecycleStep, ProviderName
from incident_core.support.paths import dig, mapping
from incident_core.support.urls import is_path_segment
from incident_core.validation import first_problem


def _path_segment(value: str | None) -> str | None:
    # These identifiers go into URL paths (Port's run, a policy entity): `.` or `..` would name another resource.
    if value is not None and not is_path_segment(value):
        raise ValueError(f"{value!r} is not a usable identifier")
    return value


class ActionRun(BaseModel):
    """What every step needs: which run, on which entity, with which inputs, by whom."""

    model_config = ConfigDict(frozen=True)

    runId: Annotated[str, Field(min_length=1), AfterValidator(_path_segment)]
    step: LifecycleStep
    action: str = ""
    entity: dict[str, Any] | None = None
    """The Port entity the action ran on (the incident; the alert for "trigger from alert"), if any."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    user: str = "unknown"

    @property
    def entity_identifier(self) -> str | None:
        identifier = (self.entity or {}).get("identifier")
        return str(identifier) if identifier else None

    @property
    def entity_blueprint(self) -> str | None:
        blueprint = (self.entity or {}).get("blueprint")
        return str(blueprint) if blueprint else None


def _entity(value: Any) -> dict[str, Any] | None:
    # Port renders an action without an entity as {} (our template) or null (legacy payload).
    return value if isinstance(value, dict) and value.get("identifier") else None


def parse_action_run(step: LifecycleStep, payload: Any) -> ActionRun:
    """Accept our template (`runId`, `entity`, `inputs`, `user`) or the legacy run (`context.runId`,
    `payload.entity`, `payload.properties`, `trigger.by.user.email`); raise `MalformedRequest` naming the
    field otherwise."""
    if not isinstance(payload, dict):
        raise MalformedRequest("body", "expected a JSON object")
    legacy = isinstance(payload.get("context"), dict) and "runId" not in payload
    if legacy:
        context = payload["context"]
        inner = mapping(payload.get("payload"))
        user = mapping(dig(payload, "trigger", "by", "user"))
        fields = {
            "runId": context.get("runId"),
            "action": payload.get("action") or "",
            "entity": _entity(inner.get("entity")),
            "inputs": inner.get("properties") if inner.get("properties") is not None else {},
            "user": user.get("email") or "unknown",
        }
        names = {"runId": "context.runId", "inputs": "payload.properties", "entity": "payload.entity"}
    else:
        fields = {
            "runId": payload.get("runId"),
            "action": payload.get("action") or "",
            "entity": _entity(payload.get("entity")),
            "inputs": payload.get("inputs") if payload.get("inputs") is not None else {},
            "user": payload.get("user") or "unknown",
        }
        names = {}
    try:
        run = ActionRun.model_validate({**fields, "step": step})
    except ValidationError as exc:
        field, problem = first_problem(exc, default="body")
        raise MalformedRequest(names.get(field, field), problem) from exc
    # Both become parts of DynamoDB keys (the run ledger, the incident).
    check_identifier(run.runId, names.get("runId", "runId"))
    if run.entity_identifier is not None:
        check_identifier(run.entity_identifier, f"{names.get('entity', 'entity')}.identifier")
    return run


MAX_SERVICES = 100
"""Services one action may name; more than a page of them is a mistake, not an incident."""


def _identifiers(value: Any) -> Any:
    """Port renders entity inputs as entity objects or bare identifiers; keep the identifiers."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item.get("identifier") if isinstance(item, dict) else item for item in items]


TEXT_INPUT_LIMIT = 10_000
"""Characters of a free-text input (a note, a resolution): it lands in the incident's timeline, whose item
DynamoDB keeps under 400 KB."""
ServiceIdentifiers = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=PORT_IDENTIFIER_MAX)]],
    BeforeValidator(_identifiers),
    Field(max_length=MAX_SERVICES),
]


def _within_limit(value: str) -> str:
    if len(value) > TEXT_INPUT_LIMIT:
        raise ValueError(f"at most {TEXT_INPUT_LIMIT} characters")
    return value


def _optional_text(value: Any) -> Any:
    """Blank is absent; anything else is kept trimmed (and checked by its type first)."""
    return value.strip() or None if isinstance(value, str) else value


OptionalText = Annotated[
    str | None,
    BeforeValidator(_optional_text),
    AfterValidator(lambda value: None if value is None else _within_limit(value)),
]


def _required_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return _within_limit(value.strip())


RequiredText = Annotated[str, AfterValidator(_required_text)]


def _user(value: Any) -> Any:
    # A user input arrives as an email, or as Port's user object.
    return value.get("email") if isinstance(value, dict) else value


class StepInputs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


InputsT = TypeVar("InputsT", bound=StepInputs)


class TriggerInputs(StepInputs):
    title: OptionalText = None
    severity: Severity | None = None
    services: ServiceIdentifiers = Field(default_factory=list)
    provider: ProviderName | None = None


class AcknowledgeInputs(StepInputs):
    pass


class ReassignInputs(StepInputs):
    assignee: Annotated[RequiredText, BeforeValidator(_user)]


class AssociateServicesInputs(StepInputs):
    services: Annotated[ServiceIdentifiers, Field(min_length=1)]


class EscalateInputs(StepInputs):
    level: int | None = Field(default=None, ge=1)
    policy: Annotated[OptionalText, AfterValidator(_path_segment)] = None
    user: Annotated[OptionalText, BeforeValidator(_user)] = None


class AddNoteInputs(StepInputs):
    note: RequiredText


class ResolveInputs(StepInputs):
    resolution: RequiredText
    resolveAlerts: bool = True


class FindExpertInputs(StepInputs):
    """Who can help: `skill` in free text ("mongo sharding"); `addResponder` brings one person in (an email)."""

    skill: OptionalText = None
    addResponder: Annotated[OptionalText, BeforeValidator(_user)] = None


def parse_inputs(run: ActionRun, model: type[InputsT]) -> InputsT:
    """The run's inputs as `model`, its step's inputs; `MalformedRequest` names `inputs.<field>`."""
    try:
        return model.model_validate(run.inputs)
    except ValidationError as exc:
        field, problem = first_problem(exc, default="")
        raise MalformedRequest(f"inputs.{field}" if field else "inputs", problem) from exc
