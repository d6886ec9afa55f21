-- Issue 15 item 5: maintenance silences. A supervisor silences a home (device_id
-- NULL) or one device until ends_at: no alert but `sos` is raised from it until
-- then (alerts/silences.py). ended_at: ended early by a person.
CREATE TABLE silences (
    id              bigserial PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisations (id),
    home_id         text NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    device_id       text,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    reason          text NOT NULL DEFAULT '',
    created_by      text,
    ended_at        timestamptz,
    ended_by        text
);
CREATE INDEX silences_home ON silences (home_id, ends_at);
CREATE INDEX silences_organisation ON silences (organisation_id, ends_at);
