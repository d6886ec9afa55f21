-- Sign-in state kept in the store (dashboard_api/auth.py, routes_twilio.py):
-- each account's token version (a password or role change, a logout or
-- revoke_tokens moves it on, and every token carrying the old one stops working),
-- the token signing key generated once when ELDERCARE_SECRET_KEY is unset, and
-- the Twilio webhooks already handled (MessageSid / CallSid + status).
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE service_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_receipts (
    key         TEXT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_receipts_received_at ON webhook_receipts (received_at);
