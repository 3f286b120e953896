"""incident.io: the incident lives in incident.io (API v2 for incidents, escalations, roles and users; v1 for the
lists of severities and statuses), and its webhooks report what responders change there.

Quirks this adapter is built around (spec: incident-io/terraform-provider-incident, public schema v3
including secret endpoints; facts: ../shared/spec/provider-api-facts.md section 5):

- `POST /v2/incidents` requires `idempotency_key` and `visibility`; the key is our incident identifier, so a
  retried trigger returns the incident it already opened. It answers 200, not 201.
- Severities, statuses and roles are the organisation's own records, addressed by id. Ids named in the secret
  are used as they are; the rest are looked up on first use (`GET /v1/severities`, `GET /v1/incident_statuses`,
  `GET /v2/incident_roles`) and kept for the provider's life, which is one step. Naming them in the secret
  saves that request and pins the choice; the lookup picks by rank and category (`SEVERITY_POSITION`,
  `CATEGORY_OF_STATUS`).
- Incidents have no "acknowledged": acknowledging moves the incident to its first `live` (Active) status and
  makes the acknowledger the incident lead; resolving moves it to a `closed` status (or to the post-incident
  status named in `resolvedStatusId`). Going straight to closed needs the API key permission "Close incidents
  by opting out of post-incident flow" where a post-incident flow is required.
- Every edit (`POST /v2/incidents/{id}/actions/edit`) must say `notify_incident_channel`.
- `POST /v2/escalations` requires its own `idempotency_key` and takes an escalation path or user ids, never
  both; it is limited to 60 requests a minute.
- There is no endpoint to write an incident update or timeline note: notes are `Unsupported`.
- The spec declares no error responses; errors come as `{"type", "status", "request_id", "errors": [{"code",
  "message", "source": {"field"}}]}` and 429 carries `Retry-After` (honoured by `VendorHttp`).
- Webhooks are sent through Svix (Standard Webhooks): `webhook-id`, `webhook-timestamp` and
  `webhook-signature: v1,<base64 HMAC-SHA256(base64-decoded secret after "whsec_", "<id>.<timestamp>.<body>")>`.
  Events of private incidents carry only the incident id; the scheduled reconcile (`get`) catches those.
"""
