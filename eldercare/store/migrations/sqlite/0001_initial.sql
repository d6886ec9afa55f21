-- Initial schema (SQLite). Timestamps are ISO-8601 UTC text with microseconds,
-- so they sort as text. JSON columns hold text.

CREATE TABLE homes (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    address  TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL
);

CREATE TABLE residents (
    id      TEXT PRIMARY KEY,
    home_id TEXT NOT NULL REFERENCES homes (id),
    name    TEXT NOT NULL,
    limits  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX residents_home ON residents (home_id);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    home_id     TEXT NOT NULL REFERENCES homes (id),
    kind        TEXT NOT NULL,
    resident_id TEXT REFERENCES residents (id),
    location    TEXT NOT NULL DEFAULT '',
    last_seen   TEXT,
    battery     REAL,
    online      INTEGER
);
CREATE INDEX devices_home ON devices (home_id);
CREATE INDEX devices_resident ON devices (resident_id);

CREATE TABLE contacts (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    home_id  TEXT NOT NULL REFERENCES homes (id),
    name     TEXT NOT NULL,
    phone    TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'zh-CN',
    priority INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX contacts_home ON contacts (home_id, priority, id);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    phone         TEXT
);

-- seq is -1 when the reading has none, so (device_id, seq, ts) is the identity.
CREATE TABLE readings (
    home_id     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ts          TEXT NOT NULL,
    received_at TEXT NOT NULL,
    seq         INTEGER NOT NULL DEFAULT -1,
    battery     REAL,
    fields      TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX readings_identity ON readings (device_id, seq, ts);
CREATE INDEX readings_device_ts ON readings (device_id, ts);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    home_id           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    severity          TEXT NOT NULL,
    status            TEXT NOT NULL,
    raised_at         TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL,
    response_deadline TEXT NOT NULL,
    count             INTEGER NOT NULL DEFAULT 1,
    message           TEXT NOT NULL DEFAULT '',
    device_id         TEXT,
    resident_id       TEXT,
    responder         TEXT,
    outcome           TEXT,
    updated_at        TEXT
);
-- At most one alert not resolved per (home, subject, kind).
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (home_id, subject, kind)
    WHERE status <> 'resolved';
CREATE INDEX alerts_home_newest ON alerts (home_id, id DESC);
CREATE INDEX alerts_status_newest ON alerts (status, id DESC);

CREATE TABLE alert_timeline (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id),
    at         TEXT NOT NULL,
    event      TEXT NOT NULL,
    actor      TEXT,
    details    TEXT NOT NULL DEFAULT '{}',
    source_key TEXT UNIQUE
);
CREATE INDEX alert_timeline_alert ON alert_timeline (alert_id, at, id);
