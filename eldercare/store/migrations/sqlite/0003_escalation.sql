-- Escalation (alerts/escalation*.py): ladders, their steps as rows with a due
-- time, one row per message or call (its idempotency key), and family stops.

CREATE TABLE escalation_ladders (
    alert_id     INTEGER PRIMARY KEY REFERENCES alerts (id),
    severity     TEXT NOT NULL,
    scheduled_at TEXT NOT NULL
);

CREATE TABLE escalation_steps (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id       INTEGER NOT NULL REFERENCES alerts (id),
    name           TEXT NOT NULL,
    round          INTEGER NOT NULL DEFAULT 0,
    due_at         TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT NOT NULL,
    unless_status  TEXT NOT NULL,
    message        TEXT NOT NULL,
    repeat_every_s REAL,
    state          TEXT NOT NULL DEFAULT 'pending',
    claimed_by     TEXT,
    claimed_until  TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    finished_at    TEXT,
    UNIQUE (alert_id, name, round)
);
CREATE INDEX escalation_steps_due ON escalation_steps (due_at)
    WHERE state IN ('pending', 'claimed');
CREATE INDEX escalation_steps_alert ON escalation_steps (alert_id, state);

CREATE TABLE escalation_sends (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    key            TEXT NOT NULL UNIQUE,
    alert_id       INTEGER NOT NULL REFERENCES alerts (id),
    step_id        INTEGER NOT NULL REFERENCES escalation_steps (id),
    channel        TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    to_phone       TEXT NOT NULL,
    language       TEXT NOT NULL,
    body           TEXT NOT NULL,
    contact_id     INTEGER,
    state          TEXT NOT NULL DEFAULT 'planned',
    quota          TEXT NOT NULL DEFAULT 'normal',
    provider_id    TEXT,
    status         TEXT,
    error          TEXT,
    started_at     TEXT,
    updated_at     TEXT NOT NULL
);
CREATE INDEX escalation_sends_alert ON escalation_sends (alert_id, seq);
CREATE INDEX escalation_sends_provider ON escalation_sends (provider_id);
CREATE INDEX escalation_sends_quota ON escalation_sends (to_phone, started_at);

CREATE TABLE escalation_stops (
    alert_id  INTEGER NOT NULL REFERENCES alerts (id),
    recipient TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (alert_id, recipient)
);

CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX alerts_raised ON alerts (raised_at);
