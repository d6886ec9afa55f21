-- Issue 15 item 5: alarm floods. Alerts of one kind and cause raised in many
-- homes within minutes (a power cut, a broker outage) are grouped into one
-- incident; its members' family SMS are held back (alerts/incidents.py).
-- An alert is a member of at most one incident.
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    kind            TEXT NOT NULL,
    cause           TEXT NOT NULL,
    opened_at       TEXT NOT NULL,
    last_member_at  TEXT NOT NULL,
    members         INTEGER NOT NULL DEFAULT 0,
    ended_at        TEXT,
    ended_by        TEXT
);
CREATE INDEX incidents_open ON incidents (organisation_id, kind, cause, ended_at);
CREATE TABLE incident_members (
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    alert_id    INTEGER NOT NULL UNIQUE REFERENCES alerts (id) ON DELETE CASCADE,
    joined_at   TEXT NOT NULL,
    PRIMARY KEY (incident_id, alert_id)
);
