-- Issue 20 item 6: tenancy. Several care centres (organisations) on one
-- installation. A home belongs to one organisation, and its residents,
-- devices and contacts through it; an account belongs to one (NULL: a
-- platform admin, who manages the organisations and sees every one); an
-- alert keeps the organisation of its home when it was raised, so its
-- history stays with that centre even if the home id is later reused.
-- Every row that exists joins the default organisation: an installation with
-- one centre works as before.
CREATE TABLE organisations (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT INTO organisations (id, name) VALUES ('default', 'Default care centre');

-- (SQLite cannot add a REFERENCES column with a default while foreign keys
-- are on; the store checks the organisation exists.)
ALTER TABLE homes ADD COLUMN organisation_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX homes_organisation ON homes (organisation_id, id);

ALTER TABLE users ADD COLUMN organisation_id TEXT DEFAULT 'default';
CREATE INDEX users_organisation ON users (organisation_id, username);

ALTER TABLE alerts ADD COLUMN organisation_id TEXT;
UPDATE alerts SET organisation_id = COALESCE(
    (SELECT h.organisation_id FROM homes h WHERE h.id = alerts.home_id), 'default');
CREATE INDEX alerts_organisation_newest ON alerts (organisation_id, id DESC);

-- A new alert takes its home's organisation (the default one for a home that
-- is not registered: it holds nothing of any centre).
CREATE TRIGGER alerts_organisation AFTER INSERT ON alerts
    FOR EACH ROW WHEN NEW.organisation_id IS NULL
BEGIN
    UPDATE alerts SET organisation_id = COALESCE(
        (SELECT h.organisation_id FROM homes h WHERE h.id = NEW.home_id), 'default')
    WHERE id = NEW.id;
END;
