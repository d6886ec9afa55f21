-- Detectors (issue 3): per-home rule overrides, and the detectors' saved state
-- so a restart resumes "out of bed since 02:10" (detectors/runtime.py).

ALTER TABLE homes ADD COLUMN rules jsonb NOT NULL DEFAULT '{}';

CREATE TABLE detector_state (
    detector   text NOT NULL,
    key        text NOT NULL,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (detector, key)
);
