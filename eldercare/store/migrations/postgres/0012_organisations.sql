-- Issue 20 item 6: tenancy. Several care centres (organisations) on one
-- installation. A home belongs to one organisation, and its residents,
-- devices and contacts through it; an account belongs to one (NULL: a
-- platform admin, who manages the organisations and sees every one); an
-- alert keeps the organisation of its home when it was raised, so its
-- history stays with that centre even if the home id is later reused.
-- Every row that exists joins the default organisation: an installation with
-- one centre works as before.
CREATE TABLE organisations (
    id   text PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO organisations (id, name) VALUES ('default', 'Default care centre');

ALTER TABLE homes ADD COLUMN organisation_id text NOT NULL DEFAULT 'default'
    REFERENCES organisations (id);
CREATE INDEX homes_organisation ON homes (organisation_id, id);

ALTER TABLE users ADD COLUMN organisation_id text DEFAULT 'default'
    REFERENCES organisations (id);
CREATE INDEX users_organisation ON users (organisation_id, username);

ALTER TABLE alerts ADD COLUMN organisation_id text;
UPDATE alerts SET organisation_id = COALESCE(
    (SELECT h.organisation_id FROM homes h WHERE h.id = alerts.home_id), 'default');
CREATE INDEX alerts_organisation_newest ON alerts (organisation_id, id DESC);

-- A new alert takes its home's organisation (the default one for a home that
-- is not registered: it holds nothing of any centre).
CREATE FUNCTION eldercare_alert_organisation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.organisation_id IS NULL THEN
        SELECT h.organisation_id INTO NEW.organisation_id FROM homes h WHERE h.id = NEW.home_id;
        NEW.organisation_id := COALESCE(NEW.organisation_id, 'default');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER alerts_organisation BEFORE INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION eldercare_alert_organisation();
