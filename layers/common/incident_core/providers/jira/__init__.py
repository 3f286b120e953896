"""Jira Cloud as the incident tool: one issue per incident (platform REST API v3, `/rest/api/3`).

Requests: create `POST /issue`; find a retried trigger's issue `GET /search/jql`; acknowledge and resolve
`GET` then `POST /issue/{key}/transitions`; reassign `GET /user/search` then `PUT /issue/{key}/assignee`;
services, escalation `PUT /issue/{key}`; notes `POST /issue/{key}/comment`; reconcile `GET /issue/{key}`.

Jira's quirks, and what this adapter does about them:

- No idempotency key. Every issue carries the label `port-incident-<incident identifier>` and, set in the
  create request itself, the issue property `port.incident`; trigger searches by the label (asking for the
  key and the property by name: without `fields`, search answers ids only) and confirms by the property.
  Search lags new issues by seconds, so after a create whose answer was lost it is asked again after
  growing pauses before the create is sent again.
- Comments are not idempotent: each one this adapter writes carries a mark, looked for before writing
  (again); a transition cannot be sent twice, so a lost answer is settled by reading the issue's status.
- Workflows differ per project, and a transition's id is only known by listing the issue's transitions. The
  names to look for are configurable; a name matches a transition's own name or the status it leads to,
  and when nothing matches, the refusal names the transitions Jira offers. An issue already in the wanted
  status category (a retried step) is left as it is.
- Rich text (description, comments) is Atlassian Document Format (ADF), not a string.
- Jira hides email addresses by each user's privacy setting: a user search by full address that finds
  exactly one person found them; reassigning also accepts a Jira account id (checked). The account ids
  found are kept with their emails, so webhooks and reconcile, which see account ids, name people by email;
  changes made by the adapter's own account (`GET /myself`) are not reported back as news.
- Statuses are per workflow; their category (`new`, `indeterminate`, `done`) is what maps to our status.
- Priorities are names the site defines; escalating raises the priority one step per level.
- Rate limits answer 429 with `Retry-After` (seconds) and `X-RateLimit-Reset` (ISO 8601), which
  `incident_core.retry` honours; errors come as `{"errorMessages": [...], "errors": {field: message}}`.
- Admin webhooks sign the raw body with HMAC-SHA256 in `X-Hub-Signature: sha256=<hex>`.

Jira Cloud has no regional hosts (data residency keeps the site URL); a custom domain or a proxy in front
of the site is a `siteUrl`. Jira Data Center has no v3 API and is not supported.
"""
