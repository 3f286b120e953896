"""Who handles a FireHydrant incident: the commander role handed to a person, teams assigned to it; each
assignment made once, also when its answer is lost (an assignment sent twice is two assignments)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from incident_core.errors import ConfigurationError
from incident_core.providers.answers import fetch
from incident_core.providers.firehydrant.credentials import Credentials
from incident_core.providers.firehydrant.models import FireHydrantIncident, RoleAssignmentsPage
from incident_core.providers.http import VendorHttp


def incident_path(incident_id: str, *rest: str) -> str:
    return "/".join(["/v1/incidents", quote(incident_id, safe=""), *rest])


@dataclass
class Command:
    credentials: Credentials
    http: VendorHttp

    def _read(self, incident_id: str) -> FireHydrantIncident:
        return fetch(self.http, FireHydrantIncident, "GET", incident_path(incident_id))

    def assign_team(self, incident_id: str, team_id: str) -> None:
        def assigned() -> bool | None:
            held = self._read(incident_id).team_assignments
            return True if any(a.team and a.team.id == team_id and a.status == "active" for a in held) else None

        if assigned():
            return

        def send() -> bool:
            body = {"team_id": team_id}
            self.http.request("POST", incident_path(incident_id, "team_assignments"), json_body=body, once=True)
            return True

        self.http.guarded(send, assigned)

    def role_id(self) -> str:
        role_id = self.credentials.commanderRoleId
        if not role_id:
            raise ConfigurationError(
                f"commanderRoleId is missing from {self.http.credentials_in}: FireHydrant assigns people through "
                "an incident role (GET /v1/incident_roles); name a team from teamIds to assign a team instead"
            )
        return role_id

    def hand(self, incident_id: str, role_id: str, user_id: str) -> None:
        """Give the user the commander role (once), then take it from whoever held it before."""
        path = incident_path(incident_id, "role_assignments")

        def holders() -> list[tuple[str | None, str | None]]:
            page = fetch(self.http, RoleAssignmentsPage, "GET", path, params={"status": "active"})
            return [
                (a.id, a.user.id if a.user else None)
                for a in page.data
                if a.incident_role is not None and a.incident_role.id == role_id
            ]

        if all(holder != user_id for _, holder in holders()):

            def send() -> bool:
                body = {"user_id": user_id, "incident_role_id": role_id}
                self.http.request("POST", path, json_body=body, once=True)
                return True

            self.http.guarded(send, lambda: True if any(h == user_id for _, h in holders()) else None)
        for assignment_id, holder in holders():
            if assignment_id and holder != user_id:
                self.http.request("DELETE", incident_path(incident_id, "role_assignments", assignment_id))
