-- Chat: messages keep the order the server stored them in (seq, per
-- conversation), and client-supplied ids make retries idempotent (the id is
-- the primary key already). Settings that outlive a restart (the system mode).
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX messages_conversation_seq ON messages (conversation_id, seq);
CREATE INDEX conversations_agent ON conversations (assigned_agent_id, status);

CREATE TABLE settings (
    name          TEXT PRIMARY KEY,
    value         TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
