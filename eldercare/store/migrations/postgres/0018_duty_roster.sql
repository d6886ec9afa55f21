-- Issue 15 item 2: who is on duty when (shifts), and which responder each alert
-- is assigned to (claimed by, or given to by a supervisor).
CREATE TABLE duty_shifts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisations (id),
    username        text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL
);
CREATE INDEX duty_shifts_organisation ON duty_shifts (organisation_id, ends_at);
CREATE TABLE alert_assignments (
    alert_id    bigint PRIMARY KEY,
    username    text NOT NULL,
    assigned_at timestamptz NOT NULL,
    assigned_by text NOT NULL
);
CREATE INDEX alert_assignments_user ON alert_assignments (username);
