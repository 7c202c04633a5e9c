-- A chat message's id is unique within its conversation, not across all of
-- them: client-chosen ids (a widget's `messageId`) make retries idempotent
-- without one customer's id blocking another conversation's.
CREATE TABLE messages_scoped (
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    sender_type     TEXT NOT NULL,
    sender_id       TEXT NOT NULL DEFAULT '',
    sender_name     TEXT NOT NULL DEFAULT '',
    content         TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    seq             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, id)
);
INSERT INTO messages_scoped (id, conversation_id, sender_type, sender_id, sender_name, content, created_at_ms, seq)
    SELECT id, conversation_id, sender_type, sender_id, sender_name, content, created_at_ms, seq FROM messages;
DROP TABLE messages;
ALTER TABLE messages_scoped RENAME TO messages;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at_ms);
CREATE UNIQUE INDEX messages_conversation_seq ON messages (conversation_id, seq);
