-- Detectors (issue 3): per-home rule overrides, and the detectors' saved state
-- so a restart resumes "out of bed since 02:10" (detectors/runtime.py).

ALTER TABLE homes ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';

CREATE TABLE detector_state (
    detector   TEXT NOT NULL,
    key        TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (detector, key)
);
