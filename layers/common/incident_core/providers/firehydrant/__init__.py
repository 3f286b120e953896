"""The `firehydrant` provider: FireHydrant REST API v1 (`https://api.firehydrant.io/v1`, EU `api.eu.firehydrant.io`).

Requests carry `Authorization: Bearer <bot token>` (the spec's own description; a bot token acts as the
bot user, so every note says which Port user it speaks for). Quirks this adapter is shaped by:

- No idempotency key. The incident is tagged `port-<our incident identifier>`; a trigger first searches by
  that tag, and a create whose answer was lost is looked for by it before it is sent again. Notes carry a
  mark and are looked for among the timeline's events first; assignments and impacts are made once.
- Status is the incident's *milestone*, and milestones are the organisation's (custom ones on Enterprise):
  their order is read from `GET /v1/lifecycles/phases`, the defaults map through `STATUS_OF_MILESTONE`,
  and the acknowledge/resolve slugs are settings of the secret, checked against that order. Milestones
  only move forward: acknowledging an incident already investigating leaves it so, and resolving one
  already resolved (which `PUT /resolve` refuses) is done.
- Acknowledge is a status update (`PATCH /v1/incidents/{id}/impact` with `milestone` and a timeline note).
  The PUT verb of that endpoint would replace, so clear, every impact: never use it here.
- Severities and priorities are the organisation's slugs (`severities`, `priorities` in the secret, checked
  against `GET /v1/severities` and `/v1/priorities`).
- People are assigned through incident roles: reassigning hands the role `commanderRoleId` to the user
  (found by email, or mapped in `userIds`) and removes it from the previous holders; webhooks and reconcile
  both read the commander by that role. Teams use `team_assignments` (by `teamIds`, else by name).
- There is no escalate endpoint and no escalation level. Escalating sets the severity one step more severe
  than the incident's own per level above the first (so a repeated step sets the same one) and, when a
  policy or user is named, assigns that team or hands command to that user.
- Services are impacted through FireHydrant's own service ids (`serviceIds`); at creation `impacts` need a
  severity-matrix condition (`impactConditionId`), otherwise services are added one by one afterwards.
- Rate limit: about 50 requests per 10 s per account, shared by all bot tokens; a 429 has `Retry-After`.
- Errors are `{"detail", "messages", "code"}`; rate limiting answers `{"error": "rate limit exceeded"}`.
- Webhooks sign the raw body: `fh-signature` = hex HMAC-SHA256(secret, body), with no timestamp, so
  there is no replay window to check (a replayed change is applied once: its run id is stable).
"""
