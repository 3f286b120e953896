"""Client for Port's REST API v1 (https://api.port.io/v1, US: https://api.us.port.io/v1).

Written against Port's published OpenAPI 3.1 description ("Port API" 1.0, port-labs/port-docs
static/apispec.yaml, copied to shared/vendor-specs/port-openapi.json) and Port's API docs. Quirks it handles:

- Auth: `POST /v1/auth/access_token` with `{clientId, clientSecret}` returns `{accessToken, expiresIn,
  tokenType}`. Tokens live 3 hours and Port hands back the same token until it expires, so the token is
  cached until 60 s before `expiresIn` runs out; a 401 on any other call refreshes it once and retries.
- Bulk upsert (`POST /v1/blueprints/{bp}/entities/bulk`): at most 20 entities per request, and every request
  body is limited to 1 MiB (413 otherwise). 200 and 207 (partial success) both list failed entities in
  `errors[]` with their own `statusCode`. The `upsert` query parameter is marked required; `upsert=true`
  alone overwrites the whole entity, so `merge=true` is sent to touch only the given properties and
  relations. `run_id` ties the change to an action run while the run is IN_PROGRESS.
- Search (`POST /v1/blueprints/{bp}/entities/search`) pages with `limit` (1-1000) and `next` → `from`.
- Rate limits exist but the spec documents no 429; answers carry `x-ratelimit-*` headers, where
  `x-ratelimit-reset` is documented as UTC epoch seconds, and was as seconds to wait: `retry.py` reads both.
- Errors are `{"ok": false, "error": <code>, "message": <text>}`; every answer carries `X-Trace-Id`, which
  is quoted in error messages for Port support.
- Identifiers may contain `/` (and `:`, `+`, `=`), so they are percent-encoded as path segments.
- Pages are a beta API: the spec lists only `GET|DELETE /v1/pages/{identifier}` (no 200 schema). Creating
  and replacing a page (`POST /v1/pages`, `PUT /v1/pages/{identifier}`) and the answer `{"ok": true, "page":
  {...}}` follow Port's Terraform provider (port-labs/terraform-provider-port-labs, internal/cli/page.go).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

from incident_core.errors import (
    BulkUpsertError,
    ConfigurationError,
    EntityFailure,
    MalformedRequest,
    PortApiError,
    RetriesExhausted,
)
from incident_core.retry import RetryPolicy, is_retryable_status, retry_report, send_with_retries
from incident_core.support.urls import is_path_segment

DEFAULT_BASE_URL = "https://api.port.io"
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
TOKEN_SAFETY_MARGIN_SECONDS = 60.0
MAX_ENTITIES_PER_BULK = 20
MAX_REQUEST_BYTES = 1024 * 1024
SEARCH_PAGE_SIZE = 1000
_LISTED_FAILURES = 10

RunStatus = Literal["SUCCESS", "FAILURE"]


class PortClient:
    """Synchronous Port API client. Construction does no I/O; the first call fetches a token."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError("The Port API URL is empty: set PORT_API_URL (e.g. https://api.port.io).")
        if not client_id or not client_secret:
            raise ConfigurationError("Port credentials are missing: set PORT_CLIENT_ID and PORT_CLIENT_SECRET.")
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=REQUEST_TIMEOUT)
        self._clock = clock
        self._sleep = sleep
        self._retry = retry if retry is not None else RetryPolicy()
        self._token: str | None = None
        self._token_refresh_at = 0.0

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> PortClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # Entities

    def upsert_entities(self, blueprint: str, entities: list[dict[str, Any]], *, run_id: str | None = None) -> None:
        """Create or merge-update `entities` of `blueprint`, in as few requests as Port's limits allow.

        Every batch is sent even when an earlier one had refused entities (upserts are idempotent, so the
        caller can simply retry the whole list); then `BulkUpsertError` lists every refused entity.
        """
        batches, oversized = _bulk_bodies(entities)
        if oversized:
            raise PortApiError(oversized[0].message, status_code=413, retryable=False)
        path, params = _bulk_route(blueprint, run_id)
        failures: list[EntityFailure] = []
        for batch in batches:
            response = self._call("POST", path, content=batch.body, params=params)
            failures.extend(_bulk_failures(response, batch.identifiers, path))
        if failures:
            raise _bulk_error(blueprint, len(entities), failures)

    def write_entities(self, blueprint: str, entities: list[dict[str, Any]]) -> list[EntityFailure]:
        """Merge-upsert `entities` like `upsert_entities`, but answer with what was not written instead of raising.

        An entity over the 1 MiB limit is refused without sending. A request that fails takes its entities
        with it (retryable); once one failed for a reason that lasts (an outage, a rate limit), the later
        requests are not sent and their entities are returned the same way: trying them now would only wait.
        """
        batches, failures = _bulk_bodies(entities)
        path, params = _bulk_route(blueprint, None)
        outage: PortApiError | None = None
        for batch in batches:
            if outage is None:
                try:
                    response = self._call("POST", path, content=batch.body, params=params)
                except PortApiError as error:
                    outage = error if error.retryable else None
                    failures.extend(_request_failures(batch, error))
                    continue
                failures.extend(_bulk_failures(response, batch.identifiers, path))
            else:
                failures.extend(_request_failures(batch, outage))
        return failures

    def get_entity(self, blueprint: str, identifier: str) -> dict[str, Any] | None:
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/{_segment(identifier)}"
        response = self._call_optional("GET", path)
        return None if response is None else _object_field(response, "entity", "GET", path)

    def search_entities(
        self,
        blueprint: str,
        rules: list[dict[str, Any]],
        combinator: Literal["and", "or"] = "and",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entities of `blueprint` matching `rules`, following Port's pages; at most `limit` if given."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        path = f"/v1/blueprints/{_segment(blueprint)}/entities/search"
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while limit is None or len(found) < limit:
            page_size = SEARCH_PAGE_SIZE if limit is None else min(SEARCH_PAGE_SIZE, limit - len(found))
            query: dict[str, Any] = {"query": {"combinator": combinator, "rules": rules}, "limit": page_size}
            if cursor is not None:
                query["from"] = cursor
            page = _json_object(self._call("POST", path, content=_encode(query)), "POST", path)
            entities = page.get("entities")
            if not isinstance(entities, list):
                raise PortApiError(f"Port answered POST {path} without an entities list", retryable=True)
            found.extend(entities)
            next_cursor = page.get("next")
            if not isinstance(next_cursor, str) or not next_cursor or not entities:
                break
            if next_cursor == cursor:
                raise PortApiError(f"Port answered POST {path} with the same page cursor twice", retryable=True)
            cursor = next_cursor
        return found

    def count_entities(self, blueprint: str) -> int:
        path = f"/v1/blueprints/{_segment(blueprint)}/entities-count"
        count = _json_object(self._call("GET", path), "GET", path).get("count")
        if not isinstance(count, int | float):
            raise PortApiError(f"Port answered GET {path} without a count", retryable=True)
        return int(count)

    def existing_entities(self, blueprint: str, identifiers: set[str]) -> set[str]:
        """Which of `identifiers` are entities of `blueprint` in Port (one search per 1000)."""
        wanted = sorted(identifiers)
        found: set[str] = set()
        for start in range(0, len(wanted), SEARCH_PAGE_SIZE):
            rule = {"property": "$identifier", "operator": "in", "value": wanted[start : start + SEARCH_PAGE_SIZE]}
            found.update(str(entity.get("identifier")) for entity in self.search_entities(blueprint, [rule]))
        return found

    # Action runs

    def patch_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        summary: str | None = None,
        link: str | list[str] | None = None,
        status_label: str | None = None,
    ) -> None:
        fields = {"status": status, "summary": summary, "link": link, "statusLabel": status_label}
        body = {key: value for key, value in fields.items() if value is not None}
        self._call("PATCH", f"/v1/actions/runs/{_segment(run_id)}", content=_encode(body))

    def add_run_log(self, run_id: str, message: str, *, termination_status: RunStatus | None = None) -> None:
        body: dict[str, Any] = {"message": message}
        if termination_status is not None:
            body["terminationStatus"] = termination_status
        self._call("POST", f"/v1/actions/runs/{_segment(run_id)}/logs", content=_encode(body))

    # Blueprints, actions (and automations, both under /v1/actions) and pages (beta: see the docstring)

    def get_blueprint(self, identifier: str) -> dict[str, Any] | None:
        return self._get_resource("blueprints", "blueprint", identifier)

    def create_blueprint(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create_resource("blueprints", "blueprint", body)

    def update_blueprint(self, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the blueprint (PUT): properties and relations missing from `body` are removed."""
        return self._replace_resource("blueprints", "blueprint", identifier, body)

    def get_action(self, identifier: str) -> dict[str, Any] | None:
        return self._get_resource("actions", "action", identifier)

    def create_action(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create_resource("actions", "action", body)

    def update_action(self, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._replace_resource("actions", "action", identifier, body)

    def get_page(self, identifier: str) -> dict[str, Any] | None:
        return self._get_resource("pages", "page", identifier)

    def create_page(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create_resource("pages", "page", body)

    def update_page(self, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the page (PUT): widgets missing from `body` are removed."""
        return self._replace_resource("pages", "page", identifier, body)

    def _get_resource(self, collection: str, key: str, identifier: str) -> dict[str, Any] | None:
        path = f"/v1/{collection}/{_segment(identifier)}"
        response = self._call_optional("GET", path)
        return None if response is None else _object_field(response, key, "GET", path)

    def _create_resource(self, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/{collection}"
        return _object_field(self._call("POST", path, content=_encode(body)), key, "POST", path)

    def _replace_resource(self, collection: str, key: str, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/{collection}/{_segment(identifier)}"
        return _object_field(self._call("PUT", path, content=_encode(body)), key, "PUT", path)

    # Transport

    def _call_optional(self, method: str, path: str) -> httpx.Response | None:
        """Like `_call`, but a 404 (no such resource) is None instead of an error."""
        response = self._authorized(method, path, content=None, params=None)
        if response.status_code == 404:
            return None
        return self._checked(response, method, path)

    def _call(
        self, method: str, path: str, *, content: bytes | None = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._checked(self._authorized(method, path, content=content, params=params), method, path)

    def _authorized(
        self, method: str, path: str, *, content: bytes | None, params: dict[str, str] | None
    ) -> httpx.Response:
        response = self._send(method, path, content=content, params=params, token=self._access_token())
        if response.status_code == 401:
            # Port revoked the token early (credentials rotated, or a clock skew beyond our margin):
            # a fresh one tells "stale token" apart from "wrong credentials".
            self._token = None
            response = self._send(method, path, content=content, params=params, token=self._access_token())
        return response

    def _access_token(self) -> str:
        now = self._clock()
        if self._token is not None and now < self._token_refresh_at:
            return self._token
        path = "/v1/auth/access_token"
        credentials = {"clientId": self._client_id, "clientSecret": self._client_secret}
        response = self._checked(self._send("POST", path, content=_encode(credentials)), "POST", path)
        answer = _json_object(response, "POST", path)
        token, expires_in = answer.get("accessToken"), answer.get("expiresIn")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise PortApiError("Port answered the token request without accessToken/expiresIn", retryable=True)
        self._token = token
        # Port hands back the same token until it expires, so one fetched inside the safety margin is used
        # to its end (a 401 then fetches the next) instead of being fetched again before every call.
        lifetime = float(expires_in)
        margin = TOKEN_SAFETY_MARGIN_SECONDS if lifetime > TOKEN_SAFETY_MARGIN_SECONDS else 0.0
        self._token_refresh_at = now + lifetime - margin
        return token

    def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = self._http.build_request(
            method,
            self._base_url + path,
            params=params,
            content=content,
            headers=headers,
            timeout=REQUEST_TIMEOUT,
        )
        try:
            return send_with_retries(self._http, request, self._retry, self._clock, self._sleep)
        except RetriesExhausted as exc:
            report = exc.report
            raise PortApiError(
                f"Port API unreachable after {report.attempts} attempts over {report.elapsed_seconds:.1f} s: "
                f"{method} {path}: {type(exc.last_error).__name__}: {exc.last_error}",
                retryable=True,
            ) from exc

    def _checked(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        if response.is_success:
            return response
        status = response.status_code
        detail = _port_message(response)
        if is_retryable_status(status):
            report = retry_report(response)
            state = "rate limited" if status == 429 else "unavailable"
            raise PortApiError(
                f"Port API {state} ({status}) after {report.attempts} attempts over "
                f"{report.elapsed_seconds:.1f} s: {method} {path}: {detail}",
                status_code=status,
                retryable=True,
            )
        if status == 401:
            raise PortApiError(
                f"Port refused the credentials (401) on {method} {path}: {detail}. "
                "Check PORT_CLIENT_ID and PORT_CLIENT_SECRET.",
                status_code=status,
                retryable=False,
            )
        raise PortApiError(
            f"Port API refused {method} {path} ({status}): {detail}", status_code=status, retryable=False
        )


@dataclass(frozen=True)
class _Batch:
    identifiers: tuple[str, ...]
    body: bytes


_BULK_PREFIX = b'{"entities":['
_BULK_SUFFIX = b"]}"


def _bulk_route(blueprint: str, run_id: str | None) -> tuple[str, dict[str, str]]:
    params = {"upsert": "true", "merge": "true"}
    if run_id is not None:
        params["run_id"] = run_id
    return f"/v1/blueprints/{_segment(blueprint)}/entities/bulk", params


def _bulk_bodies(entities: Sequence[dict[str, Any]]) -> tuple[list[_Batch], list[EntityFailure]]:
    """Request bodies of at most 20 entities and at most 1 MiB each, in the order given; and the entities
    that cannot fit in any request (refused with 413 without sending)."""
    empty_size = len(_BULK_PREFIX) + len(_BULK_SUFFIX)
    batches: list[_Batch] = []
    oversized: list[EntityFailure] = []
    parts: list[bytes] = []
    identifiers: list[str] = []
    size = empty_size
    for index, entity in enumerate(entities):
        identifier = str(entity.get("identifier", f"#{index}"))
        encoded = _encode(entity)
        if empty_size + len(encoded) > MAX_REQUEST_BYTES:
            message = (
                f"Entity {identifier!r} is {len(encoded)} bytes serialized, more than Port's 1 MiB request "
                "limit allows; shrink it (for example its rawPayload) before sending."
            )
            oversized.append(EntityFailure(identifier, 413, message))
            continue
        separator = 1 if parts else 0
        if len(parts) == MAX_ENTITIES_PER_BULK or size + separator + len(encoded) > MAX_REQUEST_BYTES:
            batches.append(_Batch(tuple(identifiers), _BULK_PREFIX + b",".join(parts) + _BULK_SUFFIX))
            parts, identifiers, size, separator = [], [], empty_size, 0
        parts.append(encoded)
        identifiers.append(identifier)
        size += separator + len(encoded)
    if parts:
        batches.append(_Batch(tuple(identifiers), _BULK_PREFIX + b",".join(parts) + _BULK_SUFFIX))
    return batches, oversized


def _request_failures(batch: _Batch, error: PortApiError) -> list[EntityFailure]:
    """Every entity of a request that failed as a whole: none was refused for itself, so all may be retried."""
    return [
        EntityFailure(identifier, error.status_code or 0, error.message, retryable=True)
        for identifier in batch.identifiers
    ]


def _bulk_failures(response: httpx.Response, identifiers: tuple[str, ...], path: str) -> list[EntityFailure]:
    answer = _json_object(response, "POST", path)
    errors = answer.get("errors")
    if not errors and response.status_code == 207:
        written = answer.get("entities")
        confirmed = (
            {e.get("identifier") for e in written if isinstance(e, dict)} if isinstance(written, list) else set()
        )
        return [
            EntityFailure(identifier, 207, "Port reported a partial failure without details", retryable=True)
            for identifier in identifiers
            if identifier not in confirmed
        ]
    if not errors:
        return []
    if not isinstance(errors, list):
        raise PortApiError(f"Port answered POST {path} with a malformed errors field", retryable=True)
    failures = []
    for error in errors:
        item = error if isinstance(error, dict) else {}
        index = item.get("index")
        fallback = identifiers[index] if isinstance(index, int) and 0 <= index < len(identifiers) else "?"
        status = int(item["statusCode"]) if isinstance(item.get("statusCode"), int | float) else 0
        failures.append(
            EntityFailure(
                identifier=str(item.get("identifier") or fallback),
                status_code=status,
                message=str(item.get("message") or item.get("error") or "no message"),
                retryable=status == 0 or is_retryable_status(status),
            )
        )
    return failures


def _bulk_error(blueprint: str, total: int, failures: list[EntityFailure]) -> BulkUpsertError:
    listed = "; ".join(f"{f.identifier} ({f.status_code}: {f.message})" for f in failures[:_LISTED_FAILURES])
    more = len(failures) - _LISTED_FAILURES
    if more > 0:
        listed += f"; and {more} more"
    return BulkUpsertError(
        f"Port refused {len(failures)} of {total} {blueprint} entities: {listed}",
        failures=failures,
        retryable=any(f.retryable for f in failures),
    )


def _segment(value: str) -> str:
    if not is_path_segment(value):
        raise MalformedRequest("identifier", f"{value!r} cannot be an identifier in a URL path")
    return quote(value, safe="")


def _encode(value: Any) -> bytes:
    # Compact and UTF-8 (not \u escapes): the bytes measured against the 1 MiB limit are the bytes sent.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _json_object(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise PortApiError(
            f"Port answered {method} {path} ({response.status_code}) with a body that is not a JSON object",
            status_code=response.status_code,
            retryable=True,
        )
    return answer


def _object_field(response: httpx.Response, key: str, method: str, path: str) -> dict[str, Any]:
    value = _json_object(response, method, path).get(key)
    if not isinstance(value, dict):
        raise PortApiError(f"Port answered {method} {path} without {key!r}", retryable=True)
    return value


def _port_message(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and (answer.get("message") or answer.get("error")):
        detail = str(answer.get("message") or answer.get("error"))
    else:
        detail = response.text.strip()[:300] or response.reason_phrase or "no details"
    trace_id = response.headers.get("x-trace-id")
    return f"{detail} (trace id {trace_id})" if trace_id else detail
