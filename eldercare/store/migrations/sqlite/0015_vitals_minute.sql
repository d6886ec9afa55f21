-- Issue 16: per-minute vitals rollups, kept by the intake in the readings' own
-- transaction. Per bed band and UTC minute (ISO-8601 text like the readings' ts):
-- count, sum, min, max of heart rate and respiration.
-- Readings stored before this migration: `eldercare db backfill-vitals`.
CREATE TABLE vitals_minute (
    device_id TEXT NOT NULL,
    minute    TEXT NOT NULL,
    hr_n      INTEGER NOT NULL DEFAULT 0,
    hr_sum    REAL,
    hr_min    REAL,
    hr_max    REAL,
    rr_n      INTEGER NOT NULL DEFAULT 0,
    rr_sum    REAL,
    rr_min    REAL,
    rr_max    REAL,
    PRIMARY KEY (device_id, minute)
) WITHOUT ROWID;
