-- Issue 15 item 2: who is on duty when (shifts), and which responder each alert
-- is assigned to (claimed by, or given to by a supervisor).
CREATE TABLE duty_shifts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    username        TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    starts_at       TEXT NOT NULL,
    ends_at         TEXT NOT NULL
);
CREATE INDEX duty_shifts_organisation ON duty_shifts (organisation_id, ends_at);
CREATE TABLE alert_assignments (
    alert_id    INTEGER PRIMARY KEY,
    username    TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    assigned_by TEXT NOT NULL
);
CREATE INDEX alert_assignments_user ON alert_assignments (username);
