-- switchboard's records. Portable SQL: the same file runs on SQLite and Postgres.
-- Instants are Unix milliseconds (BIGINT); flags are 0/1 integers.

-- One row per finished call, written when it ends.
CREATE TABLE call_records (
    call_id         TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL DEFAULT '',
    direction       TEXT NOT NULL,
    customer_number TEXT NOT NULL DEFAULT '',
    caller_name     TEXT NOT NULL DEFAULT '',
    destination     TEXT NOT NULL DEFAULT '',
    agent_extension TEXT,
    queue           TEXT,
    ami_uniqueid    TEXT NOT NULL DEFAULT '',
    channel         TEXT NOT NULL DEFAULT '',
    started_at_ms   BIGINT NOT NULL,
    answered_at_ms  BIGINT,
    ended_at_ms     BIGINT NOT NULL,
    disposition     TEXT NOT NULL
);
CREATE INDEX call_records_ended ON call_records (ended_at_ms);

-- One row per agent login, closed at logout.
CREATE TABLE agent_sessions (
    id              TEXT PRIMARY KEY,
    extension       TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    logged_in_ms    BIGINT NOT NULL,
    logged_out_ms   BIGINT
);
CREATE INDEX agent_sessions_extension ON agent_sessions (extension);

-- Chat conversations and voice-AI calls stored as conversations.
CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    channel           TEXT NOT NULL,
    customer_name     TEXT NOT NULL DEFAULT '',
    customer_email    TEXT NOT NULL DEFAULT '',
    customer_phone    TEXT NOT NULL DEFAULT '',
    assigned_agent_id TEXT,
    created_at_ms     BIGINT NOT NULL,
    updated_at_ms     BIGINT NOT NULL
);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    sender_type     TEXT NOT NULL,
    sender_id       TEXT NOT NULL DEFAULT '',
    sender_name     TEXT NOT NULL DEFAULT '',
    content         TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at_ms);

-- Webhook deliveries already handled, for idempotency.
CREATE TABLE webhook_receipts (
    provider        TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    received_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (provider, delivery_id)
);
