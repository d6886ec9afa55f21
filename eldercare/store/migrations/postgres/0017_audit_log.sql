-- Issue 15: the audit log. Who did what, when, from where: views of a
-- key-safe code, record edits, alert actions, account changes. Rows are only
-- ever added (the API has no route to change or remove one). organisation_id
-- is the centre of the thing acted on (NULL: no centre's, platform only).
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id text,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    address         text NOT NULL,
    action          text NOT NULL,
    target          text NOT NULL,
    details         text NOT NULL
);
CREATE INDEX audit_log_organisation ON audit_log (organisation_id, id DESC);
