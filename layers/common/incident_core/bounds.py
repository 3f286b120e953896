"""Input bounds of every route, and the one guarded parser of request bodies.

Whatever is accepted with a 2xx must be storable and queueable, so the limits of what comes after (SQS
messages, DynamoDB keys and items, pydantic's JSON depth) are checked here, before anything is queued,
and refused with a typed error naming the field (400) or the size (413) — in time bounded by the body's
size, never with an untyped exception.

`parse_json` reads a body exactly once. Fractions keep their literal (`LiteralFloat`), so epoch times and
numeric identifiers are read as written and the document needs no rebuild. With msgspec installed (a
compiled wheel, in the layer) it does the parsing; the pure-Python path gives the same answers.
"""

from __future__ import annotations

import json
from typing import Any

from incident_core.errors import MalformedRequest, PayloadTooLarge
from incident_core.support.numbers import OUT_OF_RANGE, LiteralFloat

try:
    import msgspec
except ImportError:  # the layer ships msgspec; without it the pure-Python path serves
    msgspec = None  # type: ignore[assignment]

MAX_DEPTH = 64
"""Nesting levels of a body. Real webhooks stay under 12; pydantic refuses JSON nested ~200 deep, and an
alert travels inside two more levels (the queue message, the stored record)."""
MAX_IDENTIFIER_BYTES = 1024
"""UTF-8 bytes of an identifier that becomes part of a DynamoDB key (keys stop at 2,048 bytes; ours add
prefixes such as `ALERT#<source>-`)."""
SQS_MESSAGE_LIMIT_BYTES = 1024 * 1024
"""SQS's message size, and the total of one SendMessageBatch."""
MAX_ALERTS_PER_REQUEST = 1000
"""Alerts in one notification: queued in parallel batches, they are answered well within API Gateway's
29 s. Alertmanager's `max_alerts` (and Grafana's) keeps a notification under it."""

_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def check_body_size(body: bytes, limit: int) -> None:
    """413 for a body over `limit` bytes, before any of it is read."""
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {limit}")


def check_identifier(value: str, field: str) -> str:
    """`value`, unless it is too long to be (part of) a DynamoDB key: then a 400 naming `field`."""
    size = len(value) if value.isascii() else len(value.encode())
    if size > MAX_IDENTIFIER_BYTES:
        raise MalformedRequest(field, f"{size} bytes long; an identifier has at most {MAX_IDENTIFIER_BYTES}")
    return value


def queued_size(message: str) -> int:
    """Bytes of a message as SQS counts it: its JSON-escaped form (`é` is six bytes, `\\u00e9`)."""
    return len(json.dumps(message)) - 2


def check_queued_size(encoded_bytes: int, field: str) -> None:
    """413 when what would be queued exceeds an SQS message (a redrive could never help it)."""
    if encoded_bytes > SQS_MESSAGE_LIMIT_BYTES:
        raise PayloadTooLarge(
            f"{field} would be queued as {encoded_bytes} bytes of JSON; a message holds at most "
            f"{SQS_MESSAGE_LIMIT_BYTES}"
        )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or `MalformedRequest` naming `body`."""
    payload = parse_json(body)
    if type(payload) is not dict:
        raise MalformedRequest("body", "expected a JSON object")
    return payload


def parse_json_pure(body: bytes) -> Any:
    """The pure-Python parser: strict UTF-8, no NaN/Infinity, bounded numbers, depth and surrogates."""
    try:
        document = body.decode()
        payload = json.loads(document, parse_float=LiteralFloat, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedRequest("body", _TOO_DEEP) from None
    except UnicodeDecodeError as exc:
        raise MalformedRequest("body", f"not valid JSON (not UTF-8 at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MalformedRequest("body", f"not valid JSON ({exc.msg} at byte {exc.pos})") from None
    except ValueError as exc:  # an integer over 4,300 digits, or a fraction beyond a double
        raise MalformedRequest("body", _number_problem(str(exc))) from None
    _check_depth(body, payload)
    if ("\\ud" in document or "\\uD" in document) and _has_lone_surrogate(payload):
        raise MalformedRequest("body", "not valid JSON (a lone UTF-16 surrogate)")
    return payload


def parse_json_compiled(body: bytes) -> Any:
    """The same reading through msgspec's compiled decoder (one decoder, built once)."""
    try:
        payload = _DECODER.decode(body)
    except RecursionError:
        raise MalformedRequest("body", _TOO_DEEP) from None
    except msgspec.ValidationError as exc:  # an integer or a fraction out of range
        raise MalformedRequest("body", _number_problem(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise MalformedRequest("body", f"not valid JSON ({exc})") from None
    _check_depth(body, payload)
    return payload


def _number_problem(message: str) -> str:
    if OUT_OF_RANGE in message:
        return OUT_OF_RANGE
    return "an integer too long to read (over 4,300 digits)"


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def _has_lone_surrogate(payload: Any) -> bool:
    """A surrogate escape that did not pair (UTF-8 cannot carry it); only escapes can put one in a string,
    so this walk runs only for bodies that have such escapes."""
    stack = [payload]
    while stack:
        node = stack.pop()
        items = node.items() if type(node) is dict else enumerate(node) if type(node) is list else ()
        for key, value in items:
            if type(key) is str and not _encodable(key):
                return True
            if type(value) is str:
                if not _encodable(value):
                    return True
            elif type(value) in (dict, list):
                stack.append(value)
    return type(payload) is str and not _encodable(payload)


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_depth(body: bytes, payload: Any) -> None:
    """Refuse a document nested deeper than MAX_DEPTH. A body with fewer brackets cannot be, so most
    bodies are decided by counting bytes; the others by walking their containers."""
    # Counted by removing them: `replace` finds bytes with memchr, several times faster than `count`.
    if len(body) - len(body.replace(b"[", b"").replace(b"{", b"")) <= MAX_DEPTH:
        return
    level = [payload] if type(payload) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise MalformedRequest("body", _TOO_DEEP)
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) in (dict, list)
        ]


if msgspec is not None:
    _DECODER = msgspec.json.Decoder(float_hook=LiteralFloat)
    parse_json = parse_json_compiled
else:
    parse_json = parse_json_pure
