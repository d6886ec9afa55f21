-- Issue 16: per-minute vitals rollups, kept by the intake in the readings' own
-- transaction (the Apache edition has no continuous aggregates). Per bed band and
-- UTC minute: count, sum, min, max of heart rate and respiration.
-- Readings stored before this migration: `eldercare db backfill-vitals`.
CREATE TABLE vitals_minute (
    device_id text NOT NULL,
    minute    timestamptz NOT NULL,
    hr_n      integer NOT NULL DEFAULT 0,
    hr_sum    double precision,
    hr_min    double precision,
    hr_max    double precision,
    rr_n      integer NOT NULL DEFAULT 0,
    rr_sum    double precision,
    rr_min    double precision,
    rr_max    double precision
);
-- Weekly chunks: a week of 1,000 bed bands is ~10 M rows; retention drops whole chunks.
SELECT create_hypertable('vitals_minute', by_range('minute', INTERVAL '7 days'),
                         create_default_indexes => false);
-- Covering: a resident's day is read from consecutive index pages (an index-only
-- scan), not from 1,440 heap pages scattered among the other residents' rows.
CREATE UNIQUE INDEX vitals_minute_identity ON vitals_minute (device_id, minute)
    INCLUDE (hr_n, hr_sum, hr_min, hr_max, rr_n, rr_sum, rr_min, rr_max);
