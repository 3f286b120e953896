"""Vendors' answers and webhook payloads read through small pydantic models, never by digging in dicts.

An answer that does not fit its model is the vendor's fault (`ProviderApiError`, not retried: the same
request gets the same answer); a webhook payload that does not fit is the sender's (`MalformedRequest`, 400
naming the field).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from incident_core.errors import MalformedRequest, ProviderApiError
from incident_core.providers.http import VendorHttp
from incident_core.validation import first_problem


class VendorModel(BaseModel):
    """A vendor's object as far as an adapter reads it: unknown fields are ignored, nothing is changed."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Model = TypeVar("Model", bound=BaseModel)


def read_answer(model: type[Model], value: Any, vendor: str) -> Model:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        where, problem = first_problem(exc, default="answer")
        raise ProviderApiError(
            f"{vendor} answered in an unexpected shape: {where}: {problem}", retryable=False
        ) from exc


def fetch(http: VendorHttp, model: type[Model], method: str, path: str, **kwargs: Any) -> Model:
    """Send one request and read its answer as `model` (an empty answer reads as `None`)."""
    return read_answer(model, http.json(method, path, **kwargs), http.vendor)


def read_payload(model: type[Model], value: Any) -> Model:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        where, problem = first_problem(exc, default="body")
        raise MalformedRequest(where, problem) from exc
