"""FakePort: a stateful in-memory Port API (v1) that checks every request against Port's OpenAPI spec.

    fake = FakePort()
    http = httpx.Client(transport=fake.transport())
    client = PortClient(FAKE_PORT_URL, fake.client_id, fake.client_secret, http=http)
    ...
    assert fake.violations == []

Every request is validated with openapi-core against shared/vendor-specs/port-openapi.json (path, method,
query, headers, body). A request the spec does not allow is recorded in `violations` and answered 422, so the
client under test fails loudly; a body over Port's 1 MiB limit is recorded and answered 413. The fake's own
answers are validated too (where the spec documents that status), so a fake that drifts from Port shows up in
`violations` as well. A route the spec has but the fake does not implement raises NotImplementedError.

The published spec needs three fixes before openapi-core can use it (applied to an in-memory copy):
- `POST /v1/ai/entities-auto-discovery` has `parameters: null` (must be an array);
- identifier patterns use `\\p{L}` (ECMAScript/PCRE Unicode letters), which Python's `re`, used by
  jsonschema, rejects; it is rewritten as `[^\\W\\d_]` (any Unicode letter);
- the document fails OpenAPI 3.1 validation for other reasons too (duplicate `required` entries, an
  undeclared path parameter on the deprecated blueprint-actions routes), so openapi-core's spec check is off.
openapi-core fills a missing query parameter from its schema default, so the fake also checks that every
parameter the spec marks required (such as the bulk route's `upsert`) is present.
Loading and preparing the spec takes about 0.02 s (importing openapi-core another 0.3 s), once per
process (`port_spec()`); validating a request and its answer takes about 5 ms.

Behaviour modelled after Port's docs, beyond the spec: one token per credential pair, reissued unchanged
until it expires (3 h); every entity written is checked against its blueprint as JSON Schema, strictly
(`entity_problems`: undefined properties, types, enums, date-time/url/email formats, required properties
absent or null, relations defined and single unless `many`, required relations), then its related entities
must exist in known blueprints unless create_missing_related_entities (404); bulk answers 207 when any
entity failed; a run whose status is final refuses another status (PATCH or a terminating log: 422);
blueprints and actions refuse unknown relation/trigger/entity-input targets (404). Faults on demand:
`fail_next` (any status, e.g. 5xx), `outage` (a time window), `rate_limit` (429 with `x-ratelimit-reset` in
seconds), `fail_entity` (one entity of a bulk). Search implements the property, combinator, and one-hop
relatedTo rules; other rule kinds raise.

Pages are a beta API that the spec leaves out (it has no `POST /v1/pages` nor `PUT /v1/pages/{identifier}`,
and no 200 answer for `GET /v1/pages/{identifier}`). Those two routes are answered as `BETA_ROUTES`, and their
bodies are checked against `PAGE_SCHEMA` instead: the shape the bundle expects of a dashboard page, taken from
Port's Terraform provider (the page fields) and Port's dashboard docs (the `dashboard-widget` envelope, the
12-column layout rules, the widget fields). It is our expectation, not Port's contract: a body that breaks it
is recorded in `violations` like a spec violation. Widgets must name existing blueprints (404 otherwise).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT.parent / "shared" / "vendor-specs" / "port-openapi.json"
FAKE_PORT_URL = "https://api.port.io"
MAX_BODY_BYTES = 1024 * 1024
TOKEN_LIFETIME_SECONDS = 3 * 3600
DEFAULT_SEARCH_LIMIT = 200
TOKEN_ROUTE = "POST /v1/auth/access_token"
# Keys the spec allows on an entity in GET and search answers (additionalProperties: false there).
_ENTITY_ANSWER_KEYS = ("identifier", "title", "icon", "team", "properties", "relations")

JsonObject = dict[str, Any]


# The spec, loaded once per process


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    segments: tuple[str, ...]
    operation: JsonObject

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for expected, actual in zip(self.segments, segments, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                params[expected[1:-1]] = unquote(actual)
            elif expected != actual:
                return None
        return params


@dataclass(frozen=True)
class PortSpec:
    api: OpenAPI
    routes: tuple[Route, ...]
    load_seconds: float

    def find(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The spec route for a request; literal segments win over parameters (/runs/x before /{id}/x)."""
        segments = raw_path.strip("/").split("/")
        candidates = []
        for route in self.routes:
            if route.method != method:
                continue
            params = route.match(segments)
            if params is not None:
                candidates.append((len(route.segments) - len(params), route, params))
        if not candidates:
            return None
        _literals, route, params = max(candidates, key=lambda candidate: candidate[0])
        return route, params


@functools.cache
def port_spec() -> PortSpec:
    if not SPEC_PATH.is_file():
        raise FileNotFoundError(
            f"Port's OpenAPI spec is not at {SPEC_PATH}: copy the shared/ folder beside the repository."
        )
    started = time.perf_counter()
    document = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    _make_python_compatible(document)
    api = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))
    routes = tuple(
        Route(method.upper(), template, tuple(template.strip("/").split("/")), operation)
        for template, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and method in {"get", "post", "put", "patch", "delete"}
    )
    return PortSpec(api=api, routes=routes, load_seconds=time.perf_counter() - started)


_UNICODE_LETTER_CLASS = re.compile(r"\[\\p\{L\}([^\]]*)\]")


def _make_python_compatible(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("parameters", []) is None:
            del node["parameters"]
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                node[key] = _UNICODE_LETTER_CLASS.sub(r"(?:[^\\W\\d_]|[\1])", value)
            else:
                _make_python_compatible(value)
    elif isinstance(node, list):
        for item in node:
            _make_python_compatible(item)


# openapi-core adapters for httpx


class _SpecRequest:
    def __init__(self, request: httpx.Request) -> None:
        raw_path = request.url.raw_path.decode("ascii")
        self.host_url = FAKE_PORT_URL
        self.path = urlsplit(raw_path).path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(urlsplit(raw_path).query, keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


class _SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(list(response.headers.items()))
        self.content_type = response.headers.get("content-type", "")
        self.data: bytes | None = response.content


def _describe(error: Exception) -> str:
    schema_errors = getattr(error.__cause__, "schema_errors", None)
    if schema_errors:
        details = "; ".join(_describe_schema_error(e) for e in schema_errors)
        return f"{type(error).__name__}: {details}"
    text = str(error)
    cause = str(error.__cause__) if error.__cause__ is not None else ""
    detail = f"{text} ({cause})" if cause and cause not in text and text not in cause else max(text, cause, key=len)
    return f"{type(error).__name__}: {_short(detail)}"


def _describe_schema_error(error: ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "<root>"
    # jsonschema quotes the whole instance ("[...21 entities...] is too long"): name the rule instead.
    message = error.message if len(error.message) <= 200 else f"fails {error.validator}={error.validator_value!r}"
    return f"{where}: {_short(message)}"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# Recorded traffic


@dataclass(frozen=True)
class Violation:
    direction: Literal["request", "response"]
    method: str
    path: str
    route: str | None
    problem: str


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    route: str | None
    query: dict[str, str]
    body: Any


@dataclass(frozen=True)
class RefusedEntity:
    """An entity write Port refused (its blueprint's check, a missing related entity, an injected failure)."""

    blueprint: str
    identifier: str
    status: int
    message: str


@dataclass
class _Answer:
    status: int
    body: JsonObject
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _InjectedFailure:
    answer: _Answer
    route: str | None
    remaining: int


@dataclass(frozen=True)
class _Outage:
    start: float
    end: float
    answer: _Answer


class _Refused(Exception):
    """Port refuses the whole request with `status` and its usual error body."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.answer = _Answer(status, {"ok": False, "error": error, "message": message})


Handler = Callable[[dict[str, str], dict[str, str], Any], _Answer]


class FakePort:
    """In-memory Port. State is public for assertions:

    - `entities[blueprint][identifier]`: the entity as Port would return it;
    - `blueprints[identifier]`, `actions[identifier]`, `pages[identifier]`: as Port returns them (with
      Port's metadata);
    - `runs[run_id]` (add one with `add_run`) and `run_logs[run_id]`: the run and its log lines;
    - `run_entities[run_id]`: (blueprint, identifier) of each entity written with that `run_id`;
    - `calls["POST /v1/blueprints/{blueprint_identifier}/entities/bulk"]`: requests per spec route
      (failed and refused ones included); `requests`: every request in order;
    - `violations`: requests (and fake answers) that do not match Port's spec;
    - `refused`: every entity write Port refused, with its status and message.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107 (the fake's own test credential)
        blueprints: Iterable[JsonObject] = (),
    ) -> None:
        self.spec = port_spec()
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.entities: dict[str, dict[str, JsonObject]] = {}
        self.blueprints: dict[str, JsonObject] = {}
        self.actions: dict[str, JsonObject] = {}
        self.pages: dict[str, JsonObject] = {}
        self.runs: dict[str, JsonObject] = {}
        self.run_logs: dict[str, list[JsonObject]] = {}
        self.run_entities: dict[str, list[tuple[str, str]]] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.refused: list[RefusedEntity] = []
        self._token: tuple[str, float] | None = None
        self._tokens_issued = 0
        self._failures: list[_InjectedFailure] = []
        self._outages: list[_Outage] = []
        self._rate_limited_until = 0.0
        self._rate_limit_headers: dict[str, str] = {}
        self._entity_failures: dict[str, tuple[int, str]] = {}
        self._log_ids = 0
        self._handlers: dict[str, Handler] = {
            "POST /v1/blueprints/{blueprint_identifier}/entities/bulk": self._bulk_upsert,
            "POST /v1/blueprints/{blueprint_identifier}/entities": self._upsert_one,
            "GET /v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}": self._get_entity,
            "POST /v1/blueprints/{blueprint_identifier}/entities/search": self._search,
            "GET /v1/blueprints/{blueprint_identifier}/entities-count": self._count,
            "GET /v1/blueprints": self._list_blueprints,
            "POST /v1/blueprints": self._create_blueprint,
            "GET /v1/blueprints/{identifier}": self._get_blueprint,
            "PUT /v1/blueprints/{identifier}": self._replace_blueprint,
            "DELETE /v1/blueprints/{identifier}": self._delete_blueprint,
            "POST /v1/actions": self._create_action,
            "GET /v1/actions/{action_identifier}": self._get_action,
            "PUT /v1/actions/{action_identifier}": self._replace_action,
            "DELETE /v1/actions/{action_identifier}": self._delete_action,
            "GET /v1/pages/{identifier}": self._get_page,
            "POST /v1/pages": self._create_page,
            "PUT /v1/pages/{identifier}": self._replace_page,
            "PATCH /v1/actions/runs/{run_id}": self._patch_run,
            "POST /v1/actions/runs/{run_id}/logs": self._add_run_log,
        }
        for blueprint in blueprints:
            self.add_blueprint(blueprint)

    # Test controls

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        headers: dict[str, str] | None = None,
        *,
        route: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `n` requests (to `route`, e.g. "PATCH /v1/actions/runs/{run_id}", if given)
        with `status`, `headers` and Port's error body, as an overloaded or rate-limiting Port would."""
        answer = _failure_answer(status, dict(headers or {}), message)
        self._failures.append(_InjectedFailure(answer, route, n))

    def outage(self, start: float, end: float, status: int = 503, headers: dict[str, str] | None = None) -> None:
        """Answer every request whose arrival time (by the fake's clock) is in [start, end) with `status`."""
        self._outages.append(_Outage(start, end, _failure_answer(status, dict(headers or {}), None)))

    def rate_limit(self, seconds: int, *, limit: int = 35_000, period: int = 300) -> None:
        """Answer every request for the next `seconds` (by the fake's clock) with 429, as Port does when the
        organization's window is used up: `x-ratelimit-remaining` 0 and `x-ratelimit-reset` the seconds left
        until the window resets (the docs have described the header both as that wait and as an epoch)."""
        self._rate_limited_until = self.clock() + seconds
        self._rate_limit_headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-period": str(period)}

    def recover(self) -> None:
        """End every injected failure and outage: Port answers normally from the next request on."""
        self._failures.clear()
        self._outages.clear()
        self._rate_limited_until = 0.0

    def fail_entity(self, identifier: str, status_code: int = 500, message: str = "Internal error") -> None:
        """The next bulk upsert lists entity `identifier` in `errors[]` with this status (a 207 answer)."""
        self._entity_failures[identifier] = (status_code, message)

    def revoke_tokens(self) -> None:
        """Invalidate the issued token before its expiry, as rotating the client secret does."""
        self._token = None

    @property
    def tokens_issued(self) -> int:
        return self._tokens_issued

    def add_blueprint(self, body: JsonObject) -> None:
        self.blueprints[body["identifier"]] = self._stored_blueprint(body, created=None)
        self.entities.setdefault(body["identifier"], {})

    def add_entity(self, blueprint: str, entity: JsonObject) -> None:
        stored = {"properties": {}, "relations": {}, **copy.deepcopy(entity)}
        self.entities.setdefault(blueprint, {})[entity["identifier"]] = stored

    def add_run(self, run_id: str, action: str = "test_action") -> None:
        self.runs[run_id] = {
            "id": run_id,
            "action": {"identifier": action},
            "properties": {},
            "requiredApproval": False,
            "source": "UI",
            "status": "IN_PROGRESS",
        }
        self.run_logs.setdefault(run_id, [])

    # The transport handler

    def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.method.upper()
        raw_path = urlsplit(request.url.raw_path.decode("ascii")).path
        query = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
        found = self.spec.find(method, raw_path) or _find_beta_route(method, raw_path)
        route, params = found if found is not None else (None, {})
        route_key = route.key if route is not None else None
        self.calls[route_key or f"{method} {raw_path}"] += 1
        body = _parse_json(request.content)
        self.requests.append(RecordedRequest(method, unquote(raw_path), route_key, query, body))

        refusal = self._request_refusal(request, route, query, raw_path)
        if refusal is not None:
            return self._respond(request, refusal)
        injected = self._injected_failure(route_key)
        if injected is not None:
            return self._respond(request, injected)
        assert route is not None
        if route.key == TOKEN_ROUTE:
            return self._respond(request, self._issue_token(body), route=route.key)
        if not self._authorized(request):
            refused = _Refused(401, "unauthorized", "Invalid or expired token")
            return self._respond(request, refused.answer, route=route.key)
        handler = self._handlers.get(route.key)
        if handler is None:
            raise NotImplementedError(f"FakePort does not implement {route.key}")
        try:
            answer = handler(params, query, body)
        except _Refused as refused:
            answer = refused.answer
        return self._respond(request, answer, route=route.key)

    def _request_refusal(
        self, request: httpx.Request, route: Route | None, query: dict[str, str], raw_path: str
    ) -> _Answer | None:
        method = request.method.upper()
        if route is None:
            return self._violation(method, raw_path, None, "no operation in Port's API has this method and path")
        if len(request.content) > MAX_BODY_BYTES:
            self._record(method, raw_path, route.key, f"body is {len(request.content)} bytes, over 1 MiB")
            return _Refused(413, "payload_too_large", "Request body is too large (limit is 1MiB)").answer
        problems = [
            f"required query parameter {parameter['name']!r} is missing"
            for parameter in route.operation.get("parameters", [])
            if parameter.get("in") == "query" and parameter.get("required") and parameter["name"] not in query
        ]
        if route.key in _BETA_ROUTE_KEYS:
            problems.extend(_page_problems(_parse_json(request.content)))
        else:
            result = self.spec.api.unmarshal_request(_SpecRequest(request))
            problems.extend(_describe(error) for error in result.errors)
        if problems:
            return self._violation(method, raw_path, route.key, "; ".join(problems))
        return None

    def _violation(self, method: str, path: str, route: str | None, problem: str) -> _Answer:
        self._record(method, path, route, problem)
        return _Refused(422, "invalid_request", f"FakePort: request does not match Port's spec: {problem}").answer

    def _record(self, method: str, path: str, route: str | None, problem: str) -> None:
        self.violations.append(Violation("request", method, unquote(path), route, problem))

    def _injected_failure(self, route_key: str | None) -> _Answer | None:
        now = self.clock()
        if now < self._rate_limited_until:
            wait = math.ceil(self._rate_limited_until - now)
            headers = {**self._rate_limit_headers, "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(wait)}
            return _failure_answer(429, headers, "Rate limit exceeded")
        for outage in self._outages:
            if outage.start <= now < outage.end:
                return outage.answer
        for failure in self._failures:
            if failure.remaining > 0 and failure.route in (None, route_key):
                failure.remaining -= 1
                return failure.answer
        return None

    def _respond(self, request: httpx.Request, answer: _Answer, *, route: str | None = None) -> httpx.Response:
        """The answer as an httpx response; when `route` is given (a handled request), the answer is
        checked against the spec too (beta routes have no spec to check against). Refusals and injected
        failures are not: the spec documents no 429 or 503, and the fake's own 422 is what a violation looks
        like."""
        headers = {"x-trace-id": f"fake-trace-{len(self.requests)}", **answer.headers}
        response = httpx.Response(answer.status, json=answer.body, headers=headers, request=request)
        if route is not None and route not in _BETA_ROUTE_KEYS:
            result = self.spec.api.unmarshal_response(_SpecRequest(request), _SpecResponse(response))
            for error in result.errors:
                if not isinstance(error, ResponseNotFound):
                    path = unquote(request.url.path)
                    self.violations.append(Violation("response", request.method, path, route, _describe(error)))
        return response

    # Auth

    def _issue_token(self, body: Any) -> _Answer:
        if body != {"clientId": self.client_id, "clientSecret": self.client_secret}:
            return _Refused(401, "unauthorized", "Invalid client credentials").answer
        now = self.clock()
        if self._token is None or self._token[1] <= now:
            self._tokens_issued += 1
            self._token = (f"fake-token-{self._tokens_issued}", now + TOKEN_LIFETIME_SECONDS)
        token, expires_at = self._token
        return _Answer(200, {"ok": True, "accessToken": token, "expiresIn": expires_at - now, "tokenType": "Bearer"})

    def _authorized(self, request: httpx.Request) -> bool:
        if self._token is None:
            return False
        token, expires_at = self._token
        return request.headers.get("authorization") == f"Bearer {token}" and self.clock() < expires_at

    # Entities

    def _bulk_upsert(self, params: dict[str, str], query: dict[str, str], body: Any) -> _Answer:
        blueprint = self._blueprint(params["blueprint_identifier"])
        written, errors = [], []
        for index, entity in enumerate(body["entities"]):
            identifier = entity["identifier"]
            try:
                created = self._write_entity(blueprint, entity, query)
            except _Refused as refused:
                errors.append(_entity_error(identifier, index, refused.answer))
                self.refused.append(
                    RefusedEntity(
                        blueprint["identifier"], identifier, refused.answer.status, refused.answer.body["message"]
                    )
                )
                continue
            written.append({"created": created, "identifier": identifier, "index": index})
        return _Answer(207 if errors else 200, {"ok": not errors, "entities": written, "errors": errors})

    def _upsert_one(self, params: dict[str, str], query: dict[str, str], body: Any) -> _Answer:
        blueprint = self._blueprint(params["blueprint_identifier"])
        try:
            self._write_entity(blueprint, body, query)
        except _Refused as refused:
            self.refused.append(
                RefusedEntity(
                    blueprint["identifier"], body["identifier"], refused.answer.status, refused.answer.body["message"]
                )
            )
            raise
        stored = self.entities[blueprint["identifier"]][body["identifier"]]
        return _Answer(201, {"ok": True, "entity": _entity_answer(stored)})

    def _write_entity(self, blueprint: JsonObject, entity: JsonObject, query: dict[str, str]) -> bool:
        identifier = entity["identifier"]
        if not isinstance(identifier, str):
            raise NotImplementedError("FakePort does not resolve search-query identifiers")
        if query.get("validation_only") == "true":
            raise NotImplementedError("FakePort does not implement validation_only")
        injected = self._entity_failures.pop(identifier, None)
        if injected is not None:
            raise _Refused(injected[0], "injected_failure", injected[1])
        store = self.entities.setdefault(blueprint["identifier"], {})
        existing = store.get(identifier)
        upsert = query.get("upsert") == "true"
        if existing is not None and not upsert:
            raise _Refused(409, "entity_already_exists", f"Entity {identifier!r} already exists")
        if existing is not None and query.get("merge") == "true":
            merged = copy.deepcopy(existing)
            merged["properties"].update(entity.get("properties", {}))
            merged["relations"].update(entity.get("relations", {}))
            for key in ("title", "icon", "team"):
                if key in entity:
                    merged[key] = entity[key]
        else:
            merged = {"properties": {}, "relations": {}, **copy.deepcopy(entity)}
        self._check_entity(blueprint, merged, create_missing=query.get("create_missing_related_entities") == "true")
        store[identifier] = merged
        if "run_id" in query:
            self.run_entities.setdefault(query["run_id"], []).append((blueprint["identifier"], identifier))
        return existing is None

    def _check_entity(self, blueprint: JsonObject, entity: JsonObject, *, create_missing: bool) -> None:
        """Refuse (422) what Port's blueprint schema refuses; refuse (404) relations to missing entities."""
        problems = entity_problems(blueprint, entity)
        if problems:
            raise _Refused(422, "invalid_entity", "; ".join(problems))
        relations = blueprint.get("relations", {})
        for key, value in entity["relations"].items():
            target_blueprint = relations[key]["target"]
            if target_blueprint not in self.blueprints:
                raise _Refused(404, "not_found", f"Blueprint {target_blueprint!r} (target of {key!r}) was not found")
            target_store = self.entities.setdefault(target_blueprint, {})
            for target in [] if value is None else [value] if isinstance(value, str) else value:
                if target not in target_store:
                    if not create_missing:
                        raise _Refused(
                            404,
                            "related_entity_not_found",
                            f"Related entity {target!r} of blueprint {target_blueprint!r} not found",
                        )
                    target_store[target] = {"identifier": target, "properties": {}, "relations": {}}

    def _get_entity(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        blueprint = self._blueprint(params["blueprint_identifier"])
        entity = self.entities.get(blueprint["identifier"], {}).get(params["entity_identifier"])
        if entity is None:
            raise _Refused(404, "not_found", f"Entity {params['entity_identifier']!r} was not found")
        return _Answer(200, {"ok": True, "entity": _entity_answer(entity)})

    def _count(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        blueprint = self._blueprint(params["blueprint_identifier"])
        return _Answer(200, {"ok": True, "count": len(self.entities.get(blueprint["identifier"], {}))})

    def _search(self, params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        blueprint = self._blueprint(params["blueprint_identifier"])
        if "include" in body or "exclude" in body:
            raise NotImplementedError("FakePort search does not implement include/exclude")
        matching = [
            entity
            for entity in self.entities.get(blueprint["identifier"], {}).values()
            if "query" not in body or self._matches(blueprint["identifier"], entity, body["query"])
        ]
        offset = int(base64.urlsafe_b64decode(body["from"]).decode()) if "from" in body else 0
        limit = int(body.get("limit", DEFAULT_SEARCH_LIMIT))
        page = matching[offset : offset + limit]
        answer: JsonObject = {"ok": True, "entities": [_entity_answer(entity) for entity in page]}
        if offset + limit < len(matching):
            answer["next"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        return _Answer(200, answer)

    def _matches(self, blueprint: str, entity: JsonObject, query: JsonObject) -> bool:
        results = (self._rule_matches(blueprint, entity, rule) for rule in query["rules"])
        return all(results) if query["combinator"] == "and" else any(results)

    def _rule_matches(self, blueprint: str, entity: JsonObject, rule: JsonObject) -> bool:
        if "combinator" in rule:
            return self._matches(blueprint, entity, rule)
        operator = rule["operator"]
        if operator == "relatedTo":
            return self._related(blueprint, entity, rule)
        if not isinstance(rule.get("property"), str):
            raise NotImplementedError(f"FakePort search does not implement rule {rule}")
        value = _meta_or_property(blueprint, entity, rule["property"])
        return _compare(operator, value, rule.get("value"))

    def _related(self, blueprint: str, entity: JsonObject, rule: JsonObject) -> bool:
        """One hop either way: the entity points at one of the values, or one of them points at it."""
        wanted = {rule["value"]} if isinstance(rule["value"], str) else set(rule["value"])
        own_relations = self.blueprints.get(blueprint, {}).get("relations", {})
        for key, target in entity["relations"].items():
            if own_relations.get(key, {}).get("target") == rule["blueprint"] and wanted & _as_set(target):
                return True
        other_relations = self.blueprints.get(rule["blueprint"], {}).get("relations", {})
        for identifier in wanted:
            other = self.entities.get(rule["blueprint"], {}).get(identifier)
            if other is None:
                continue
            for key, target in other["relations"].items():
                if other_relations.get(key, {}).get("target") == blueprint and entity["identifier"] in _as_set(target):
                    return True
        return False

    # Blueprints

    def _blueprint(self, identifier: str) -> JsonObject:
        blueprint = self.blueprints.get(identifier)
        if blueprint is None:
            raise _Refused(404, "not_found", f"Blueprint {identifier!r} was not found")
        return blueprint

    def _stored_blueprint(self, body: JsonObject, created: JsonObject | None) -> JsonObject:
        """The blueprint as Port returns it: our body plus Port's defaults and metadata."""
        now = _iso(self.clock())
        stored: JsonObject = {
            "calculationProperties": {},
            "mirrorProperties": {},
            "aggregationProperties": {},
            "relations": {},
            **copy.deepcopy(body),
            "createdBy": created["createdBy"] if created else self.client_id,
            "createdAt": created["createdAt"] if created else now,
            "updatedBy": self.client_id,
            "updatedAt": now,
        }
        for relation in stored["relations"].values():
            relation.setdefault("required", False)
            relation.setdefault("many", False)
        return stored

    def _check_relation_targets(self, body: JsonObject) -> None:
        for key, relation in body.get("relations", {}).items():
            target = relation["target"]
            if target != body.get("identifier") and target not in self.blueprints:
                raise _Refused(404, "not_found", f"Blueprint {target!r} (target of relation {key!r}) was not found")

    @staticmethod
    def _refuse_type_changes(current: JsonObject, replacement: JsonObject) -> None:
        """Port does not change a property's type once created (its docs: create another and migrate)."""
        before = current.get("schema", {}).get("properties", {})
        for name, definition in replacement.get("schema", {}).get("properties", {}).items():
            if name in before and before[name].get("type") != definition.get("type"):
                raise _Refused(422, "property_type_immutable", f"The type of property {name!r} cannot be changed")

    def _list_blueprints(self, _params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        return _Answer(200, {"ok": True, "blueprints": list(self.blueprints.values())})

    def _create_blueprint(self, _params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        if body["identifier"] in self.blueprints:
            raise _Refused(409, "identifier_taken", f"Blueprint {body['identifier']!r} already exists")
        self._check_relation_targets(body)
        self.add_blueprint(body)
        return _Answer(201, {"ok": True, "blueprint": self.blueprints[body["identifier"]]})

    def _get_blueprint(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        return _Answer(200, {"ok": True, "blueprint": self._blueprint(params["identifier"])})

    def _replace_blueprint(self, params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        identifier = params["identifier"]
        created = self._blueprint(identifier)
        replacement = {**body, "identifier": identifier}
        self._check_relation_targets(replacement)
        self._refuse_type_changes(created, replacement)
        self.blueprints[identifier] = self._stored_blueprint(replacement, created=created)
        return _Answer(200, {"ok": True, "blueprint": self.blueprints[identifier]})

    def _delete_blueprint(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        identifier = params["identifier"]
        self._blueprint(identifier)
        if self.entities.get(identifier):
            raise _Refused(422, "blueprint_has_entities", f"Delete the entities of {identifier!r} first")
        del self.blueprints[identifier]
        self.entities.pop(identifier, None)
        return _Answer(200, {"ok": True})

    # Actions and automations

    def _action(self, identifier: str) -> JsonObject:
        action = self.actions.get(identifier)
        if action is None:
            raise _Refused(404, "not_found", f"Action {identifier!r} was not found")
        return action

    def _stored_action(self, body: JsonObject, created: JsonObject | None) -> JsonObject:
        trigger = body["trigger"]
        target = trigger.get("blueprintIdentifier") or trigger.get("event", {}).get("blueprintIdentifier")
        if target is not None:
            self._blueprint(target)
        for user_input in trigger.get("userInputs", {}).get("properties", {}).values():
            for holder in (user_input, user_input.get("items", {})):
                if holder.get("format") == "entity":
                    self._blueprint(holder["blueprint"])
        now = _iso(self.clock())
        return {
            **copy.deepcopy(body),
            "createdBy": created["createdBy"] if created else self.client_id,
            "createdAt": created["createdAt"] if created else now,
            "updatedBy": self.client_id,
            "updatedAt": now,
        }

    def _create_action(self, _params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        if body["identifier"] in self.actions:
            raise _Refused(409, "identifier_taken", f"Action {body['identifier']!r} already exists")
        self.actions[body["identifier"]] = self._stored_action(body, created=None)
        return _Answer(201, {"ok": True, "action": self.actions[body["identifier"]]})

    def _get_action(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        return _Answer(200, {"ok": True, "action": self._action(params["action_identifier"])})

    def _replace_action(self, params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        identifier = params["action_identifier"]
        created = self._action(identifier)
        self.actions[identifier] = self._stored_action({**body, "identifier": identifier}, created=created)
        return _Answer(200, {"ok": True, "action": self.actions[identifier]})

    def _delete_action(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        self._action(params["action_identifier"])
        del self.actions[params["action_identifier"]]
        return _Answer(200, {"ok": True})

    # Pages (beta: see the module docstring)

    def _page(self, identifier: str) -> JsonObject:
        page = self.pages.get(identifier)
        if page is None:
            raise _Refused(404, "not_found", f"Page {identifier!r} was not found")
        return page

    def _stored_page(self, body: JsonObject, created: JsonObject | None) -> JsonObject:
        for holder in _nested_with_key(body["widgets"], "blueprint"):
            self._blueprint(holder["blueprint"])
        now = _iso(self.clock())
        return {
            **copy.deepcopy(body),
            "createdBy": created["createdBy"] if created else self.client_id,
            "createdAt": created["createdAt"] if created else now,
            "updatedBy": self.client_id,
            "updatedAt": now,
        }

    def _get_page(self, params: dict[str, str], _query: dict[str, str], _body: Any) -> _Answer:
        return _Answer(200, {"ok": True, "page": self._page(params["identifier"])})

    def _create_page(self, _params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        if body["identifier"] in self.pages:
            raise _Refused(409, "identifier_taken", f"Page {body['identifier']!r} already exists")
        self.pages[body["identifier"]] = self._stored_page(body, created=None)
        return _Answer(201, {"ok": True, "page": self.pages[body["identifier"]]})

    def _replace_page(self, params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        identifier = params["identifier"]
        created = self._page(identifier)
        self.pages[identifier] = self._stored_page({**body, "identifier": identifier}, created=created)
        return _Answer(200, {"ok": True, "page": self.pages[identifier]})

    # Runs

    def _run(self, run_id: str) -> JsonObject:
        run = self.runs.get(run_id)
        if run is None:
            raise _Refused(404, "not_found", f"Run {run_id!r} was not found")
        return run

    def _patch_run(self, params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        run = self._run(params["run_id"])
        _refuse_if_finished(run)
        run.update(body or {})
        return _Answer(200, {"ok": True, "run": run})

    def _add_run_log(self, params: dict[str, str], _query: dict[str, str], body: Any) -> _Answer:
        run = self._run(params["run_id"])
        if "terminationStatus" in body:
            _refuse_if_finished(run)
            run["status"] = body["terminationStatus"]
        if "statusLabel" in body:
            run["statusLabel"] = body["statusLabel"]
        self._log_ids += 1
        log = {
            "id": f"log-{self._log_ids}",
            "runId": run["id"],
            "message": body["message"],
            "createdBy": self.client_id,
            "createdAt": _iso(self.clock()),
        }
        self.run_logs[run["id"]].append({**log, **body})
        return _Answer(201, {"ok": True, "runLog": log})


# The beta Pages API: routes and the page shape the fake accepts (see the module docstring)

BETA_ROUTES = (
    Route("POST", "/v1/pages", ("v1", "pages"), {}),
    Route("PUT", "/v1/pages/{identifier}", ("v1", "pages", "{identifier}"), {}),
)
_BETA_ROUTE_KEYS = frozenset(route.key for route in BETA_ROUTES)

_STRING = {"type": "string"}
_DATASET = {
    "type": "object",
    "required": ["combinator", "rules"],
    "properties": {"combinator": {"enum": ["and", "or"]}, "rules": {"type": "array", "items": {"type": "object"}}},
}
# Required fields per widget type (Port's dashboard docs); only the types the bundle uses are modelled.
_WIDGET_FIELDS = {
    "table-entities-explorer": ["title", "blueprint", "dataset"],
    "entities-number-chart": ["title", "blueprint", "unit", "dataset", "func"],
    "entities-pie-chart": ["title", "blueprint", "property", "dataset"],
    "markdown": ["title", "markdown"],
}
_WIDGET = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "type": {"enum": list(_WIDGET_FIELDS)},
        "title": _STRING,
        "blueprint": _STRING,
        "dataset": _DATASET,
    },
    "allOf": [
        {"if": {"properties": {"type": {"const": kind}}}, "then": {"required": fields}}
        for kind, fields in _WIDGET_FIELDS.items()
    ],
}
_LAYOUT_ROW = {
    "type": "object",
    "required": ["height", "columns"],
    "additionalProperties": False,
    "properties": {
        "height": {"type": "integer", "minimum": 400},
        "columns": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {
                "type": "object",
                "required": ["id", "size"],
                "additionalProperties": False,
                "properties": {"id": _STRING, "size": {"type": "integer", "minimum": 3, "maximum": 12}},
            },
        },
    },
}
PAGE_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["identifier", "title", "type", "widgets"],
    # The fields of the Terraform provider's Page model; only dashboards are modelled.
    "additionalProperties": False,
    "properties": {
        "identifier": {"type": "string", "pattern": r"^[A-Za-z0-9@_.+:\\/=-]+$"},
        "title": {"type": "string", "minLength": 1},
        "type": {"const": "dashboard"},
        "icon": _STRING,
        "description": _STRING,
        "parent": _STRING,
        "after": _STRING,
        "locked": {"type": "boolean"},
        "widgets": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "layout", "widgets"],
                "additionalProperties": False,
                "properties": {
                    "id": _STRING,
                    "type": {"const": "dashboard-widget"},
                    "layout": {"type": "array", "minItems": 1, "items": _LAYOUT_ROW},
                    "widgets": {"type": "array", "minItems": 1, "items": _WIDGET},
                },
            },
        },
    },
}
_PAGE_VALIDATOR = Draft202012Validator(PAGE_SCHEMA)


def _find_beta_route(method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    segments = raw_path.strip("/").split("/")
    for route in BETA_ROUTES:
        params = route.match(segments) if route.method == method else None
        if params is not None:
            return route, params
    return None


def _page_problems(body: Any) -> list[str]:
    """Why `body` is not a dashboard page as the fake expects one: the schema, then the layout rules."""
    problems = [_describe_schema_error(error) for error in _PAGE_VALIDATOR.iter_errors(body)]
    if problems:
        return problems
    for dashboard in body["widgets"]:
        widget_ids = [widget["id"] for widget in dashboard["widgets"]]
        column_ids = [column["id"] for row in dashboard["layout"] for column in row["columns"]]
        if len(set(widget_ids)) != len(widget_ids):
            problems.append(f"{dashboard['id']}: widget ids are not unique: {widget_ids}")
        if sorted(column_ids) != sorted(widget_ids):
            problems.append(f"{dashboard['id']}: layout columns {column_ids} do not match the widgets {widget_ids}")
        for index, row in enumerate(dashboard["layout"]):
            width = sum(column["size"] for column in row["columns"])
            if width != 12:
                problems.append(f"{dashboard['id']}: layout row {index} is {width} columns wide, not 12")
    return problems


def _nested_with_key(node: Any, key: str) -> list[JsonObject]:
    """Every object under `node`, at any depth, that has a string `key`."""
    if isinstance(node, list):
        return [found for item in node for found in _nested_with_key(item, key)]
    if not isinstance(node, dict):
        return []
    own = [node] if isinstance(node.get(key), str) else []
    return own + [found for value in node.values() for found in _nested_with_key(value, key)]


# Helpers


def _parse_json(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


FINISHED_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE"})


def _refuse_if_finished(run: JsonObject) -> None:
    """Port keeps a run as it was once its status is final (its docs: it "can no longer be updated"); the
    status code of that refusal is not documented, so the fake uses Port's generic refusal, 422."""
    if run.get("status") in FINISHED_RUN_STATUSES:
        raise _Refused(
            422,
            "run_already_finished",
            f"Run {run['id']!r} already finished with status {run['status']} and can no longer be updated",
        )


def _failure_answer(status: int, headers: dict[str, str], message: str | None) -> _Answer:
    error = "rate_limited" if status == 429 else "service_unavailable" if status >= 500 else "bad_request"
    body = {"ok": False, "error": error, "message": message or f"FakePort injected {status}"}
    return _Answer(status, body, headers)


def _entity_error(identifier: str, index: int, answer: _Answer) -> JsonObject:
    return {
        "identifier": identifier,
        "index": index,
        "statusCode": answer.status,
        "error": answer.body["error"],
        "message": answer.body["message"],
    }


def _entity_answer(entity: JsonObject) -> JsonObject:
    return {key: copy.deepcopy(entity[key]) for key in _ENTITY_ANSWER_KEYS if key in entity}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def entity_problems(blueprint: JsonObject, entity: JsonObject) -> list[str]:
    """Why Port would refuse `entity` (as stored after a merge) for `blueprint`; empty when it accepts it.

    Port's property definitions are JSON-schema keywords, so the blueprint's `schema` is applied as JSON
    Schema (Draft 2020-12, formats asserted): a property the blueprint does not define, a wrong type, a value
    outside its enum, a malformed date-time, url or email, and a required property that is absent or null
    are refused. A null optional property is accepted (Port's own integrations send nulls). Relations must
    be defined on the blueprint, hold one identifier unless `many`, and be present when `required`.
    """
    properties = {key: value for key, value in entity["properties"].items() if value is not None}
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or 'properties'}: {_short(error.message)}"
        for error in _property_validator(json.dumps(blueprint.get("schema", {}), sort_keys=True)).iter_errors(
            properties
        )
    ]
    relations = blueprint.get("relations", {})
    for key, value in entity["relations"].items():
        definition = relations.get(key)
        if definition is None:
            problems.append(f"relation {key!r} is not defined on blueprint {blueprint['identifier']!r}")
        elif isinstance(value, list) and not definition.get("many", False):
            problems.append(f"relation {key!r} is not many: it takes one identifier, not a list")
    for key, definition in relations.items():
        if definition.get("required", False) and entity["relations"].get(key) in (None, []):
            problems.append(f"relation {key!r} is required")
    return problems


_SCHEMA_KEYWORDS = ("type", "format", "enum", "items", "minLength", "maxLength", "minimum", "maximum", "pattern")
_FORMATS = FormatChecker(formats=("date-time", "email", "ipv4", "ipv6"))


@_FORMATS.checks("url")
def _is_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme in {"http", "https"} and parts.netloc)


@functools.lru_cache(maxsize=64)
def _property_validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    properties = {
        key: {k: v for k, v in definition.items() if k in _SCHEMA_KEYWORDS}
        for key, definition in schema.get("properties", {}).items()
    }
    return Draft202012Validator(
        {
            "type": "object",
            "properties": properties,
            "required": schema.get("required", []),
            "additionalProperties": False,
        },
        format_checker=_FORMATS,
    )


def _meta_or_property(blueprint: str, entity: JsonObject, name: str) -> Any:
    meta = {"$identifier": entity["identifier"], "$title": entity.get("title"), "$blueprint": blueprint}
    if name.startswith("$"):
        if name not in meta:
            raise NotImplementedError(f"FakePort search does not implement meta-property {name}")
        return meta[name]
    return entity["properties"].get(name)


def _as_set(value: Any) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    if operator == "=":
        return bool(actual == expected)
    if operator == "!=":
        return bool(actual != expected)
    if operator == "in":
        return actual in expected
    if operator == "notIn":
        return actual not in expected
    if operator == "isEmpty":
        return actual in (None, "", [], {})
    if operator == "isNotEmpty":
        return actual not in (None, "", [], {})
    if operator in {"contains", "doesNotContains"}:
        found = actual is not None and expected in actual
        return found if operator == "contains" else not found
    if operator == "containsAny":
        return actual is not None and any(item in actual for item in expected)
    if operator == "beginsWith":
        return isinstance(actual, str) and actual.startswith(expected)
    if operator == "endsWith":
        return isinstance(actual, str) and actual.endswith(expected)
    if operator in {">", ">=", "<", "<="}:
        if actual is None:
            return False
        return bool(
            {
                ">": actual > expected,
                ">=": actual >= expected,
                "<": actual < expected,
                "<=": actual <= expected,
            }[operator]
        )
    if operator == "between":
        return actual is not None and bool(expected["from"] <= actual <= expected["to"])
    raise NotImplementedError(f"FakePort search does not implement operator {operator!r}")
