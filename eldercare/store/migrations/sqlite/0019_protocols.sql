-- Issue 15 item 3: a care centre's own response protocols (the checklists shown
-- with an alert). One document per organisation, the kinds it replaces; the
-- kinds it does not name use the packaged default (alerts/policies/protocols.toml).
CREATE TABLE organisation_protocols (
    organisation_id TEXT PRIMARY KEY REFERENCES organisations (id) ON DELETE CASCADE,
    document        TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    updated_by      TEXT
);

-- The handover report reads a window of timeline entries of one kind (resolved,
-- note) across alerts.
CREATE INDEX alert_timeline_event_at ON alert_timeline (event, at);
