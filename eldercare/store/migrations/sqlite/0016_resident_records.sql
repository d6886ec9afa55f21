-- Issue 15: the resident record (health, language, hearing, how to get in).
-- One row per resident, the record as a JSON object (validated by the API);
-- it goes with the resident.
CREATE TABLE resident_records (
    resident_id TEXT PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    record      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);
