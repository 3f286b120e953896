"""OAuth 2.0 for the Table API: access tokens from the instance's `oauth_token.do`, renewed before they expire.

Why: an access token lives 30 minutes by default, so a token put in the secret fails every step after that.
The client credentials grant (Washington DC and later: the OAuth client needs an OAuth Application User and
`glide.oauth.inbound.client.credential.grant_type.enabled`) answers no refresh token, so a new one is asked
for; the password grant answers a refresh token, which is used first. Parameters go in a form-encoded body,
never in the URL (`glide.oauth.allow.parameters.in.post.body.only`). A token is kept in the container's
`Lookups` until a minute before it expires; a 401 drops it and asks once more.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from incident_core.errors import ConfigurationError
from incident_core.providers.lookups import Lookups
from incident_core.providers.servicenow.credentials import VENDOR, Credentials
from incident_core.providers.servicenow.models import Token

OAUTH_PATH = "/oauth_token.do"
RENEW_BEFORE_SECONDS = 60


@dataclass
class ServiceNowOAuth(httpx.Auth):
    credentials: Credentials
    lookups: Lookups
    secret_name: str
    requires_response_body = True

    def _key(self, kind: str) -> tuple[str, ...]:
        return ("servicenow", self.credentials.instanceUrl, str(self.credentials.clientId), kind)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.lookups.get(self._key("access"), lambda: None)
        if token is None:
            token = self._kept((yield from self._fetch(request)))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            # Revoked, or expired early: one new token, then the answer stands.
            self.lookups.forget(self._key("access"))
            self.lookups.forget(self._key("refresh"))
            request.headers["Authorization"] = f"Bearer {self._kept((yield from self._fetch(request)))}"
            yield request

    def _fetch(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, Token]:
        refresh = self.lookups.get(self._key("refresh"), lambda: None)
        if refresh is not None:
            answer = yield self._token_request(request, {"grant_type": "refresh_token", "refresh_token": refresh})
            if answer.is_success:
                return self._read(answer)
            self.lookups.forget(self._key("refresh"))
        form = {"grant_type": str(self.credentials.grant)}
        if self.credentials.grant == "password":
            form |= {"username": str(self.credentials.username), "password": str(self.credentials.password)}
        return self._read((yield self._token_request(request, form)))

    def _token_request(self, request: httpx.Request, form: dict[str, str]) -> httpx.Request:
        client = {"client_id": str(self.credentials.clientId), "client_secret": str(self.credentials.clientSecret)}
        url = request.url.copy_with(path=OAUTH_PATH, query=None)
        return httpx.Request("POST", url, data=form | client, headers={"Accept": "application/json"})

    def _read(self, answer: httpx.Response) -> Token:
        if not answer.is_success:
            raise ConfigurationError(
                f"{VENDOR} refused to issue an OAuth token ({answer.status_code}: {answer.text[:200]}): check "
                f"clientId, clientSecret (and username, password for the password grant) in {self.secret_name}, "
                "and that the OAuth client may use that grant"
            )
        try:
            return Token.model_validate_json(answer.content)
        except ValidationError as exc:
            raise ConfigurationError(f"{VENDOR}'s oauth_token.do answered without an access token") from exc

    def _kept(self, token: Token) -> str:
        life = max(token.expires_in - RENEW_BEFORE_SECONDS, 0)
        self.lookups.put(self._key("access"), token.access_token, ttl=life)
        if token.refresh_token:
            self.lookups.put(self._key("refresh"), token.refresh_token)
        return token.access_token
