"""Incident tools behind one interface, registered by name.

`PROVIDERS` maps each `ProviderName` to a factory; a provider not registered here is refused with a
sentence the Port run shows, never imported by string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from incident_core.models.incident import ProviderName
from incident_core.providers.base import IncidentProvider, Unsupported
from incident_core.providers.native import NativeProvider, Notifier


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need, built lazily by the caller: notifications and Port links."""

    notifier: Callable[[], Notifier]
    link: Callable[[str], str | None]


ProviderFactory = Callable[[ProviderContext], IncidentProvider]

PROVIDERS: dict[ProviderName, ProviderFactory] = {
    ProviderName.NATIVE: lambda context: NativeProvider(context.notifier(), context.link),
}


def provider_for(name: ProviderName, context: ProviderContext) -> IncidentProvider:
    factory = PROVIDERS.get(name)
    if factory is None:
        raise Unsupported(f"The {name.value} provider is not available in this deployment yet; use native.")
    return factory(context)
