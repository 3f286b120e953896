"""PagerDuty: the REST API v2 for every step, and v3 webhooks for changes made in PagerDuty itself.

Requests carry `Authorization: Token token=<apiKey>`, `Accept: application/vnd.pagerduty+json;version=2`
(which pins API version 2 whatever the key's default) and `Content-Type: application/json`, which the
published description requires on every incident operation, reads included. Writes carry `From: <email>`:
the acting user's email when the actor is one, else the credentials' `fromEmail`, so PagerDuty's log names
the person who acted in Port. That person must be a PagerDuty user with the same email, or PagerDuty
refuses the write (the run shows its message).

Why the REST `POST /incidents` and not the Events API v2 opens incidents: REST answers synchronously with
the incident's id and page, which Port shows at once and every later step (`PUT /incidents/{id}`, notes)
needs; the Events API answers 202 with only a dedup key, so each later step would first have to search for
the incident it may not have created yet. REST's `incident_key` (the first alert's dedup key, else our
incident identifier) gives the same once-only guarantee as an event's `dedup_key`: PagerDuty refuses a
second open incident with that key on the service, and the adapter then adopts the open one
(`GET /incidents?incident_key=`), so a retried trigger never opens two. Incident creation is "heavily rate
limited" and meant for human speed; correlation opens one incident per problem, not one per alert, which
keeps it there.

Quirks this module absorbs:
- the incident body is a string: PagerDuty's Incident Creation API "only supports string Incident bodies",
  although the published OpenAPI file types `body.details` as an object (its own example sends a string);
- a PagerDuty incident belongs to exactly one service, so associating more services adds a note naming them
  (moving the incident to another service would re-route its paging, which is not what associating means);
- there is no "assign to team": a team is paged through an escalation policy, found by its name or as the
  only policy of the team of that name;
- repeating an acknowledge or resolve is refused (errors 1001/1002); the adapter reads the incident and
  treats "already so" as done;
- rate limits answer 429 with `ratelimit-reset` (seconds), which `incident_core.retry` honours;
- the EU service region lives on `api.eu.pagerduty.com`; a key used against the wrong region answers 401.

Webhooks (v3 subscriptions): `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>`, with several
comma-separated signatures while a secret is rotated. The signature covers the body only, so the signed
`event.occurred_at` bounds replays. Agents and assignees arrive as names (webhooks carry no emails).
"""
