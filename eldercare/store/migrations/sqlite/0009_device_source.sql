-- A device that is not native: its ecosystem and address (JSON), and that address as
-- one string (eldercare/device_source.py source_key), unique across the registry.
ALTER TABLE devices ADD COLUMN source TEXT;
ALTER TABLE devices ADD COLUMN source_key TEXT;
CREATE UNIQUE INDEX devices_source_key ON devices (source_key);
