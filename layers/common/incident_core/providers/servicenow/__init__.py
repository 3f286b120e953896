"""ServiceNow: incidents as records of the `incident` table, through the Table API.

API: the Table API at its default URL `/api/now/table/{table}` (the latest version, v2: a query that
matches nothing answers 200 with an empty `result` list; v1 answered 404). Auth is OAuth 2.0 (client
credentials or password grant, tokens renewed before they expire: see `auth`) or Basic (`username`/
`password`). There is no published OpenAPI description; the facts are in ../shared/spec/provider-api-facts.md
§3 and provider-api-facts-2.md §3.

Quirks this adapter lives with:

- No idempotency key. The incident carries `correlation_id` (its first alert's dedup key, else its Port
  identifier); `trigger` searches for an open record with it before creating one, and a create whose
  answer was lost is looked for again before it is sent again.
- No acknowledge state: acknowledging moves the record to In Progress (state 2), which pages no one and
  stops nothing. No escalation levels either: escalating raises urgency and impact (ServiceNow derives
  the priority) and may hand the record to an assignment group (the request's policy) or a person.
- Reference fields (`assigned_to`, `assignment_group`, `business_service`, `cmdb_ci`) take sys_ids: people
  are found in `sys_user` by email, groups in `sys_user_group` and services in `cmdb_ci_service` by name
  (each kept in the container's lookups). Every associated service also becomes an affected CI (`task_ci`).
- Choice fields are strings (`"state": "2"`). `work_notes` is a journal: every write appends an entry, so
  work notes are written apart from field changes, carry a mark, and are looked for in
  `sys_journal_field` before being written (again).
- Resolving needs `close_code` and `close_notes` on most instances (data policies); the close code's
  values are the instance's own (`closeCode`, "Solution provided" on current releases), checked once
  against `sys_choice`.
- Rate limits are set per instance by its admin; a 429 carries `Retry-After` (seconds) and
  `X-RateLimit-Reset` (Unix time), which `VendorHttp` honours. Errors read
  `{"error": {"message", "detail"}, "status": "failure"}`.
- No signed webhooks: changes made in ServiceNow are picked up by `get` (state and `assigned_to.email`).
"""
