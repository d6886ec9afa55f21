-- Dead letters keep at most a bounded prefix of their payload (the gateway's
-- dead_letter_max_payload); payload_length is the length of the payload as it arrived.
ALTER TABLE dead_letters ADD COLUMN payload_length INTEGER NOT NULL DEFAULT 0;
UPDATE dead_letters SET payload_length = length(payload);

-- Broker accounts made by `eldercare broker-config`: one per device (username =
-- device id) and the gateway's own. Only the hash is kept, in Mosquitto's
-- password-file form ($7$: PBKDF2-SHA512), so the file can be written again
-- without the passwords.
CREATE TABLE mqtt_credentials (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('device', 'gateway')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
