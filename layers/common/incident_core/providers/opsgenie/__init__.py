"""Opsgenie: one Opsgenie alert per incident, through the Alert API v2 (`/v2/alerts`).

Opsgenie ends support on 2027-04-05 (Atlassian stopped new sales on 2025-06-04; its REST APIs work until
that day); the successor is Jira Service Management Operations, whose integration API still takes a
`GenieKey`, so `baseUrl` can point this adapter elsewhere.

Why alerts, not the Incident API v1: incidents exist only on the Standard and Enterprise plans, need a
`serviceId`, and have no acknowledge or escalate; alerts do every step on every plan.

Quirks this module handles:

- Auth is `Authorization: GenieKey <apiKey>`; the key must be an *API integration* key (keys from "API key
  management" are refused for create, acknowledge, close and notes). US `https://api.opsgenie.com`, EU
  `https://api.eu.opsgenie.com`.
- Writes are asynchronous: 202 with a `requestId`; whether the write worked shows only in
  `GET /v2/alerts/requests/{requestId}` (`isSuccess`, `status`, `alertId`), which may answer 404 until the
  request is processed. Each write is polled a few times so a refused write fails the step; a write still
  unprocessed after that is reported as sent, not confirmed.
- Every later call addresses the alert by its alias (`?identifierType=alias`), which is ours and known at
  once, instead of the alert id, which only the request status reveals. The alias is the incident's
  identifier: Opsgenie de-duplicates open alerts by alias, so a retried trigger cannot open a second alert,
  and two incidents never share one (an alert's dedup key could come back in a later incident).
- The published spec makes `owner` (assign) and `escalation` (escalate) require `"type"`, which the API
  itself does not; sending `"type": "user"` / `"type": "escalation"` satisfies both.
- Alerts carry no services: associating services adds `service:<name>` tags, searchable in Opsgenie.
- Escalating runs a named escalation's next rule; Opsgenie cannot jump to an arbitrary level.
- Errors are `{"message", "code", "took", "requestId"}`, and 422s add an `errors` map of field messages.
- Limits: message 130, alias 512, description 15000, entity 512 characters; 20 tags of 50 characters;
  details 8000 characters in all.

No inbound webhook: the reconcile schedule reads each open alert (`get`) instead.
"""
