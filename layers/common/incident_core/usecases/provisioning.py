"""Provision Port when the stack deploys: the `Custom::PortResources` resource of template.yaml.

CloudFormation invokes the provisioner Lambda with a custom resource request and then waits, for up to an
hour, for an answer PUT to the request's pre-signed `ResponseURL`. So every invocation answers exactly once,
whatever happens:

- Create and Update: load port/ (the blueprints, actions and page, with the stack's API URL put into the
  actions and the user's service blueprint into every reference), plan against Port and apply. Applying is
  idempotent: an Update with nothing new reads Port and writes nothing. The answer's Reason says what changed.
- Without Port credentials in the PortCredentials secret (a first deploy, before the operator put them):
  SUCCESS, with a Reason saying that provisioning was skipped and how to run it later. The JSON is still
  loaded, so a broken port/ fails the deploy even then.
- Delete: SUCCESS without touching Port. The blueprints hold the organization's alerts and incidents, their
  timelines and postmortems, and the actions their run history; deleting a stack (or CloudFormation replacing
  this resource) must not wipe that record. Removing them is a decision for a person in Port.
- A plan that would break a blueprint Port already has (for example an `incident` blueprint of Port's incident
  pattern, whose enums differ): FAILED with a sentence naming what would break and the IncidentBlueprint
  parameter that avoids it; nothing in Port is written.
- Any error: FAILED with the reason (CloudFormation shows it and rolls back). A watchdog answers FAILED shortly
  before the Lambda would time out, since a timed-out invocation answers nothing and leaves the stack waiting.

`sam deploy` runs this again only when the resource's properties change: the API URL, the service or incident
blueprint, or
the provisioner's published version, which changes with its code (and so with port/, which its artifact
carries) and its settings (the Port region among them). A change of the shared layer alone does not publish a
new version. After adding credentials or changing Port by hand, run
`python -m incident_core port apply --api-url <the stack's ApiUrl output>` instead.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incident_core.config import Settings, get_settings
from incident_core.port.client import PortClient
from incident_core.port.resources import ChangeType, apply_plan, load_resources, plan_resources
from incident_core.secrets import load_port_credentials

logger = Logger()

Status = Literal["SUCCESS", "FAILED"]
Handler = Callable[[dict[str, Any], LambdaContext], None]

DEADLINE_MARGIN_SECONDS = 10.0
"""The watchdog answers FAILED this long before the Lambda's timeout."""
RESPONSE_ATTEMPTS = 3
RESPONSE_TIMEOUT_SECONDS = 10.0
MAX_REASON_CHARS = 1000
"""CloudFormation refuses answers over 4 KiB; the full story is in the log group the reason names."""
MANUAL_APPLY = "python -m incident_core port apply --api-url <the stack's ApiUrl output>"


class CustomResourceRequest(BaseModel):
    """The fields of CloudFormation's custom resource request that this resource reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    RequestType: Literal["Create", "Update", "Delete"]
    ResponseURL: str = Field(min_length=1)
    StackId: str
    RequestId: str
    LogicalResourceId: str
    PhysicalResourceId: str | None = None
    ResourceProperties: dict[str, Any] = Field(default_factory=dict)

    @property
    def physical_id(self) -> str:
        """Kept across updates, so that CloudFormation never sees a replacement (and never sends a Delete)."""
        if self.PhysicalResourceId:
            return self.PhysicalResourceId
        stack_name = self.StackId.split("/")[1] if self.StackId.count("/") >= 2 else self.StackId
        return f"{stack_name}-{self.LogicalResourceId}"


@dataclass(frozen=True)
class Outcome:
    reason: str
    data: dict[str, str]


def provision(
    request: CustomResourceRequest,
    *,
    port_dir: Path,
    settings: Settings,
    port_client: Callable[[str, str, str], PortClient],
) -> Outcome:
    """Bring Port in line with port/ for a Create or Update; do nothing for a Delete. Raises on failure."""
    if request.RequestType == "Delete":
        return Outcome("Port resources are kept: they hold the organization's incident record.", {})
    properties = request.ResourceProperties
    api_url = str(properties.get("ApiUrl") or "")
    service_blueprint = str(properties.get("ServiceBlueprint") or settings.service_blueprint)
    incident_blueprint = str(properties.get("IncidentBlueprint") or settings.incident_blueprint)
    resources = load_resources(
        port_dir, service_blueprint=service_blueprint, incident_blueprint=incident_blueprint, api_url=api_url
    )
    credentials = load_port_credentials(settings)
    if not credentials.complete:
        return Outcome(
            "Port provisioning skipped: the PortCredentials secret has no clientId/clientSecret yet. Put them "
            f"there, then run `{MANUAL_APPLY}`.",
            {"Skipped": "true"},
        )
    with port_client(settings.port_api_url, credentials.clientId, credentials.clientSecret) as client:
        plan = plan_resources(client, resources)
        applied = apply_plan(client, plan)
    counts = {change: len(plan.of_type(change)) for change in ChangeType}
    logger.info("Port provisioned", extra={"plan": plan.summary(), "applied": len(applied)})
    return Outcome(
        f"Port is up to date ({service_blueprint} as service blueprint): {counts[ChangeType.CREATE]} created, "
        f"{counts[ChangeType.UPDATE]} updated, {counts[ChangeType.UNCHANGED]} unchanged.",
        {
            "Created": str(counts[ChangeType.CREATE]),
            "Updated": str(counts[ChangeType.UPDATE]),
            "Unchanged": str(counts[ChangeType.UNCHANGED]),
        },
    )


class CloudFormationResponder:
    """Answers one custom resource request, once: the first answer wins (the work or the watchdog)."""

    def __init__(self, event: dict[str, Any], log_group: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._event = event
        self._log_group = log_group
        self._sleep = sleep
        self._lock = threading.Lock()
        self._answered = False

    def answer(self, status: Status, reason: str, physical_id: str, data: dict[str, str] | None = None) -> bool:
        """PUT the standard response body to the ResponseURL; False when another answer went first."""
        with self._lock:
            if self._answered:
                return False
            self._answered = True
            self._put(self._body(status, reason, physical_id, data or {}))
            return True

    def _body(self, status: Status, reason: str, physical_id: str, data: dict[str, str]) -> bytes:
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 3] + "..."
        if status == "FAILED":
            reason = f"{reason} (details in the log group {self._log_group})"
        return json.dumps(
            {
                "Status": status,
                "Reason": reason,
                "PhysicalResourceId": physical_id,
                "StackId": self._event.get("StackId", ""),
                "RequestId": self._event.get("RequestId", ""),
                "LogicalResourceId": self._event.get("LogicalResourceId", ""),
                "NoEcho": False,
                "Data": data,
            }
        ).encode("utf-8")

    def _put(self, body: bytes) -> None:
        # The ResponseURL is a pre-signed S3 URL signed without a content type: send an empty one (urllib would
        # otherwise add application/x-www-form-urlencoded, and S3 would refuse the signature).
        request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's, https in AWS
            self._event["ResponseURL"],
            data=body,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        for attempt in range(1, RESPONSE_ATTEMPTS + 1):
            try:
                with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as response:  # noqa: S310
                    logger.info("answered CloudFormation", extra={"status": response.status})
                    return
            except OSError as exc:  # URLError and HTTPError are OSErrors
                logger.warning("could not answer CloudFormation", extra={"attempt": attempt, "error": str(exc)})
                if attempt < RESPONSE_ATTEMPTS:
                    self._sleep(attempt)
        logger.error("gave up answering CloudFormation; the stack waits for its own timeout")


def _port_client(base_url: str, client_id: str, client_secret: str) -> PortClient:
    return PortClient(base_url, client_id, client_secret)


def make_port_provisioner_handler(
    port_dir: Path, *, deadline_margin_seconds: float = DEADLINE_MARGIN_SECONDS
) -> Handler:
    """The Lambda handler of `Custom::PortResources`, provisioning the resources of `port_dir`."""

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> None:
        responder = CloudFormationResponder(event, f"/aws/lambda/{context.function_name}")
        try:
            request = CustomResourceRequest.model_validate(event)
        except ValidationError as exc:
            logger.error("not a custom resource request", extra={"error": str(exc)})
            if isinstance(event.get("ResponseURL"), str):
                fallback = str(event.get("PhysicalResourceId") or event.get("LogicalResourceId") or "unknown")
                responder.answer("FAILED", f"Malformed custom resource request: {exc}", fallback)
            return
        logger.append_keys(request_type=request.RequestType, request_id=request.RequestId)

        def give_up() -> None:
            reason = f"Provisioning Port did not finish before the Lambda's timeout; finish it with `{MANUAL_APPLY}`"
            if responder.answer("FAILED", reason, request.physical_id):
                logger.error("answered FAILED before the Lambda timeout")

        remaining = context.get_remaining_time_in_millis() / 1000.0 - deadline_margin_seconds
        watchdog = threading.Timer(max(remaining, 0.0), give_up)
        watchdog.daemon = True
        watchdog.start()
        try:
            outcome = provision(request, port_dir=port_dir, settings=get_settings(), port_client=_port_client)
        except Exception as exc:  # every failure must reach CloudFormation, or the stack hangs for an hour
            logger.exception("provisioning Port failed")
            responder.answer("FAILED", f"{type(exc).__name__}: {exc}", request.physical_id)
        else:
            responder.answer("SUCCESS", outcome.reason, request.physical_id, outcome.data)
        finally:
            watchdog.cancel()

    return handler
