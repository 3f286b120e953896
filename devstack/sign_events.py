"""Re-sign the sample webhook events with the example secrets, after a body file changed.

Run `python -m devstack.sign_events`. Grafana and Sentry sign the body bytes; the other sources carry a
static token already written in their headers files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"
SIGNATURE_HEADERS = {"grafana": "X-Grafana-Alerting-Signature", "sentry": "Sentry-Hook-Signature"}


def sign_all(events_dir: Path = EVENTS) -> list[Path]:
    secrets = json.loads((events_dir / "webhook-secrets.example.json").read_text())
    written = []
    for source, header in SIGNATURE_HEADERS.items():
        key = secrets[source]["hmac"].encode()
        for body_file in sorted((events_dir / "webhooks" / source).glob("*.body.json")):
            headers_file = body_file.with_name(body_file.name.replace(".body.json", ".headers.json"))
            headers = json.loads(headers_file.read_text()) if headers_file.exists() else {}
            if header not in headers:
                continue  # an unsigned sample (for example a legacy Grafana channel with basic auth)
            headers[header] = hmac.new(key, body_file.read_bytes(), hashlib.sha256).hexdigest()
            headers_file.write_text(json.dumps(headers, indent=2) + "\n")
            written.append(headers_file)
    return written


if __name__ == "__main__":
    for path in sign_all():
        print(f"signed {path}")
