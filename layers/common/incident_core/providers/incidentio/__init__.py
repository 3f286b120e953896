"""incident.io: the incident lives in incident.io (API v2 for incidents, escalations, roles and users; v1 for the
lists of severities and statuses), and its webhooks report what responders change there.

Quirks this adapter is built around (spec: incident-io/terraform-provider-incident, public schema v3
including secret endpoints; facts: ../shared/spec/provider-api-facts.md section 5):

- `POST /v2/incidents` requires `idempotency_key` and `visibility`; the key is our incident identifier, so a
  retried trigger returns the incident it already opened. It answers 200, not 201.
- Severities, statuses, roles, people, escalation paths and catalog entries are the organisation's own
  records, addressed by id (see `records`): ids named in the secret are checked once, the rest looked up once
  and kept in the container's lookups.
- Incidents have no "acknowledged", and the API may not move one out of triage (the published edit
  transitions: within a category; triage or Active to post-incident or closed; post-incident to closed).
  Acknowledging makes the acknowledger the incident lead; resolving moves to a `closed` status (or to the
  post-incident status named in `resolvedStatusId`). Going straight to closed needs the API key permission
  "Close incidents by opting out of post-incident flow" where a post-incident flow is required.
- API-created incidents start in triage, except those of a type that does not force triage, which start
  Active. Active therefore means acknowledged only when the incident left triage for it: the status webhook
  says so (`previous_status`), and reconcile knows where the incident started (`startedIn`).
- Services go into a catalog-backed custom field (`servicesFieldId`), at create and when associated, as the
  catalog entries the catalog finds for Port's service names (by id, external id, alias, or name).
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
