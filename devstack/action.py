"""Run a Port self-service action against the local stack, signed as Port signs it.

    python -m devstack.action trigger --input title="Checkout is down" --input severity=critical
    python -m devstack.action acknowledge --entity inc-20261127-090000-a1b2c3
    python -m devstack.action associate-services --entity inc-… --input services='["payments"]'

Inputs are `name=value`; a value that parses as JSON (a list, a number, true) is sent as that JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

import httpx

from devstack.stack import DEFAULT_PORT_CLIENT_SECRET
from incident_core.auth.port_signature import port_signature
from incident_core.models.incident import LifecycleStep


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def signed_request(secret: str, body: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-port-timestamp": timestamp,
        "x-port-signature": port_signature(secret, timestamp, raw),
    }
    return headers, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.action", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=[step.value for step in LifecycleStep])
    parser.add_argument("--entity", help="the incident (or, for trigger, alert) identifier")
    parser.add_argument("--blueprint", default="incident", help="the entity's blueprint (alert for trigger)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--user", default="you@example.com")
    parser.add_argument("--api", default="http://127.0.0.1:3000")
    args = parser.parse_args(argv)
    inputs = dict(item.split("=", 1) for item in args.input)
    body = {
        "runId": f"r_local_{uuid.uuid4().hex[:12]}",
        "action": f"{args.step}_incident",
        "entity": {"identifier": args.entity, "blueprint": args.blueprint} if args.entity else {},
        "inputs": {name: _value(value) for name, value in inputs.items()},
        "user": args.user,
    }
    headers, raw = signed_request(os.environ.get("PORT_CLIENT_SECRET", DEFAULT_PORT_CLIENT_SECRET), body)
    answer = httpx.post(f"{args.api}/actions/{args.step}", headers=headers, content=raw, timeout=10)
    print(answer.status_code, answer.text)
    return 0 if answer.status_code < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
