-- Issue 15 item 5: maintenance silences. A supervisor silences a home (device_id
-- NULL) or one device until ends_at: no alert but `sos` is raised from it until
-- then (alerts/silences.py). ended_at: ended early by a person.
CREATE TABLE silences (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    home_id         TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    device_id       TEXT,
    starts_at       TEXT NOT NULL,
    ends_at         TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    created_by      TEXT,
    ended_at        TEXT,
    ended_by        TEXT
);
CREATE INDEX silences_home ON silences (home_id, ends_at);
CREATE INDEX silences_organisation ON silences (organisation_id, ends_at);
