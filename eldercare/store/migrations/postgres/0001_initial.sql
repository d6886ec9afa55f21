-- Initial schema (PostgreSQL 15 + TimescaleDB, Apache edition).
-- The store creates the timescaledb extension before applying this file.

CREATE TABLE homes (
    id       text PRIMARY KEY,
    name     text NOT NULL,
    address  text NOT NULL DEFAULT '',
    timezone text NOT NULL
);

CREATE TABLE residents (
    id      text PRIMARY KEY,
    home_id text NOT NULL REFERENCES homes (id),
    name    text NOT NULL,
    limits  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX residents_home ON residents (home_id);

CREATE TABLE devices (
    id          text PRIMARY KEY,
    home_id     text NOT NULL REFERENCES homes (id),
    kind        text NOT NULL,
    resident_id text REFERENCES residents (id),
    location    text NOT NULL DEFAULT '',
    last_seen   timestamptz,
    battery     double precision,
    online      boolean
);
CREATE INDEX devices_home ON devices (home_id);
CREATE INDEX devices_resident ON devices (resident_id);

CREATE TABLE contacts (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    home_id  text NOT NULL REFERENCES homes (id),
    name     text NOT NULL,
    phone    text NOT NULL,
    language text NOT NULL DEFAULT 'zh-CN',
    priority integer NOT NULL DEFAULT 1
);
CREATE INDEX contacts_home ON contacts (home_id, priority, id);

CREATE TABLE users (
    username      text PRIMARY KEY,
    password_hash text NOT NULL,
    role          text NOT NULL,
    phone         text
);

-- seq is -1 when the reading has none, so (device_id, seq, ts) is the identity;
-- a unique index on a hypertable must include the time column.
CREATE TABLE readings (
    home_id     text NOT NULL,
    device_id   text NOT NULL,
    kind        text NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    seq         bigint NOT NULL DEFAULT -1,
    battery     double precision,
    fields      jsonb NOT NULL DEFAULT '{}'
);
-- No default ts index: the two below serve the queries and cost less per insert.
SELECT create_hypertable('readings', by_range('ts', INTERVAL '1 day'),
                         create_default_indexes => false);
CREATE UNIQUE INDEX readings_identity ON readings (device_id, seq, ts);
CREATE INDEX readings_device_ts ON readings (device_id, ts DESC);

CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE alerts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    home_id           text NOT NULL,
    subject           text NOT NULL,
    kind              text NOT NULL,
    severity          text NOT NULL,
    status            text NOT NULL,
    raised_at         timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    response_deadline timestamptz NOT NULL,
    count             integer NOT NULL DEFAULT 1,
    message           text NOT NULL DEFAULT '',
    device_id         text,
    resident_id       text,
    responder         text,
    outcome           text,
    updated_at        timestamptz
);
-- At most one alert not resolved per (home, subject, kind).
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (home_id, subject, kind)
    WHERE status <> 'resolved';
CREATE INDEX alerts_home_newest ON alerts (home_id, id DESC);
CREATE INDEX alerts_status_newest ON alerts (status, id DESC);

CREATE TABLE alert_timeline (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   bigint NOT NULL REFERENCES alerts (id),
    at         timestamptz NOT NULL,
    event      text NOT NULL,
    actor      text,
    details    jsonb NOT NULL DEFAULT '{}',
    source_key text UNIQUE
);
CREATE INDEX alert_timeline_alert ON alert_timeline (alert_id, at, id);
