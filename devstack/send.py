"""Post a sample request of events/ to the local stack: `python -m devstack.send SOURCE NAME [--api URL]`."""

from __future__ import annotations

import argparse
import json
import sys

import httpx

from devstack.template import REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.send", description=__doc__)
    parser.add_argument("source")
    parser.add_argument("name", help="a sample of events/webhooks/<source>/, e.g. firing")
    parser.add_argument("--api", default="http://127.0.0.1:3000")
    args = parser.parse_args(argv)
    folder = REPO / "events" / "webhooks" / args.source
    headers = json.loads((folder / f"{args.name}.headers.json").read_text())
    body = (folder / f"{args.name}.body.json").read_bytes()
    answer = httpx.post(f"{args.api}/webhooks/{args.source}", headers=headers, content=body, timeout=10)
    print(answer.status_code, answer.text)
    return 0 if answer.status_code < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
