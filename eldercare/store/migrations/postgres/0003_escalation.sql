-- Escalation (alerts/escalation*.py), PostgreSQL: ladders, their steps as rows with a due
-- time, one row per message or call (its idempotency key), and family stops.

CREATE TABLE escalation_ladders (
    alert_id     bigint PRIMARY KEY REFERENCES alerts (id),
    severity     text NOT NULL,
    scheduled_at timestamptz NOT NULL
);

CREATE TABLE escalation_steps (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       bigint NOT NULL REFERENCES alerts (id),
    name           text NOT NULL,
    round          integer NOT NULL DEFAULT 0,
    due_at         timestamptz NOT NULL,
    action         text NOT NULL,
    target         text NOT NULL,
    unless_status  text NOT NULL,
    message        text NOT NULL,
    repeat_every_s double precision,
    state          text NOT NULL DEFAULT 'pending',
    claimed_by     text,
    claimed_until  timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    finished_at    timestamptz,
    UNIQUE (alert_id, name, round)
);
CREATE INDEX escalation_steps_due ON escalation_steps (due_at)
    WHERE state IN ('pending', 'claimed');
CREATE INDEX escalation_steps_alert ON escalation_steps (alert_id, state);

CREATE TABLE escalation_sends (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key            text NOT NULL UNIQUE,
    alert_id       bigint NOT NULL REFERENCES alerts (id),
    step_id        bigint NOT NULL REFERENCES escalation_steps (id),
    channel        text NOT NULL,
    recipient      text NOT NULL,
    recipient_kind text NOT NULL,
    to_phone       text NOT NULL,
    language       text NOT NULL,
    body           text NOT NULL,
    contact_id     bigint,
    state          text NOT NULL DEFAULT 'planned',
    quota          text NOT NULL DEFAULT 'normal',
    provider_id    text,
    status         text,
    error          text,
    started_at     timestamptz,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX escalation_sends_alert ON escalation_sends (alert_id, seq);
CREATE INDEX escalation_sends_provider ON escalation_sends (provider_id);
CREATE INDEX escalation_sends_quota ON escalation_sends (to_phone, started_at);

CREATE TABLE escalation_stops (
    alert_id  bigint NOT NULL REFERENCES alerts (id),
    recipient text NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (alert_id, recipient)
);

CREATE INDEX contacts_phone ON contacts (phone);
CREATE INDEX alerts_raised ON alerts (raised_at);
