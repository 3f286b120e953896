"""Secrets through Powertools parameters (cached for `SECRETS_MAX_AGE_SECONDS`), or a local file.

Webhook secrets fail closed: a source without an entry is refused by `verify_webhook`. A secret store
that cannot be reached is an `UpstreamError`, so the sender retries instead of losing the alert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict, Field

from incident_core.auth.webhooks import WebhookSecrets
from incident_core.config import Settings
from incident_core.errors import ConfigurationError, UpstreamError
from incident_core.models.incident import ProviderName


class PortCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    clientId: str = ""
    clientSecret: str = Field(default="", repr=False)

    @property
    def complete(self) -> bool:
        return bool(self.clientId and self.clientSecret)


def _secret_document(name: str, max_age: int) -> dict[str, Any]:
    try:
        document = parameters.get_secret(name, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigurationError(f"the secret {name} is not a JSON object") from exc
    except parameters.exceptions.GetParameterError as exc:
        raise UpstreamError(f"the secret {name} could not be read: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"the secret {name} is not a JSON object")
    return document


def load_webhook_secrets(settings: Settings) -> WebhookSecrets:
    if settings.webhook_secrets_file:
        try:
            document = json.loads(Path(settings.webhook_secrets_file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read WEBHOOK_SECRETS_FILE: {exc}") from exc
        return WebhookSecrets.from_json(document)
    name = settings.required("webhook_secrets_name")
    return WebhookSecrets.from_json(_secret_document(name, settings.secrets_max_age_seconds))


def load_port_credentials(settings: Settings) -> PortCredentials:
    """Port credentials from the environment (local stack) or the stack's secret; may be incomplete."""
    if settings.port_client_id or settings.port_client_secret:
        return PortCredentials(clientId=settings.port_client_id, clientSecret=settings.port_client_secret)
    if not settings.port_credentials_secret_name:
        return PortCredentials()
    document = _secret_document(settings.port_credentials_secret_name, settings.secrets_max_age_seconds)
    return PortCredentials.model_validate(document)


def load_provider_credentials(settings: Settings, provider: ProviderName) -> dict[str, Any]:
    """The provider's secret (a JSON object); an empty one means the provider was never configured."""
    name = settings.provider_secret(provider)
    document = _secret_document(name, settings.secrets_max_age_seconds)
    if not document:
        raise ConfigurationError(
            f"{provider.value} is not configured: put its credentials in the secret {name} (see the README)"
        )
    return document


def load_secret(settings: Settings, name: str) -> dict[str, Any]:
    """Any other JSON secret of the stack (for example the chat webhooks), cached like the rest."""
    return _secret_document(name, settings.secrets_max_age_seconds)
