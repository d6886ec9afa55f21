-- Sign-in state kept in the store (dashboard_api/auth.py, routes_twilio.py):
-- each account's token version (a password or role change or revoke_tokens
-- moves it on, and every token carrying the old one stops working), the token
-- signing key generated once when ELDERCARE_SECRET_KEY is unset, the Twilio
-- webhooks already handled (MessageSid / CallSid + status), and the sessions
-- ended by a logout.
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

-- Sessions ended by a logout (one screen; the token version ends them all),
-- kept until the last token they could have issued has expired.
CREATE TABLE ended_sessions (
    sid        TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    ended_at   TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ended_sessions_expires_at ON ended_sessions (expires_at);
