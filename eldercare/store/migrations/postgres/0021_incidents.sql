-- Issue 15 item 5: alarm floods. Alerts of one kind and cause raised in many
-- homes within minutes (a power cut, a broker outage) are grouped into one
-- incident; its members' family SMS are held back (alerts/incidents.py).
-- An alert is a member of at most one incident.
CREATE TABLE incidents (
    id              bigserial PRIMARY KEY,
    organisation_id text NOT NULL REFERENCES organisations (id),
    kind            text NOT NULL,
    cause           text NOT NULL,
    opened_at       timestamptz NOT NULL,
    last_member_at  timestamptz NOT NULL,
    members         integer NOT NULL DEFAULT 0,
    ended_at        timestamptz,
    ended_by        text
);
CREATE INDEX incidents_open ON incidents (organisation_id, kind, cause, ended_at);
CREATE TABLE incident_members (
    incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    alert_id    bigint NOT NULL UNIQUE REFERENCES alerts (id) ON DELETE CASCADE,
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (incident_id, alert_id)
);
