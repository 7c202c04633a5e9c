-- Every supervisor action (monitor, whisper, barge), accepted or not: the audit trail.
CREATE TABLE supervisor_actions (
    action_id            TEXT PRIMARY KEY,
    supervisor           TEXT NOT NULL,
    supervisor_extension TEXT NOT NULL DEFAULT '',
    mode                 TEXT NOT NULL,
    agent_extension      TEXT NOT NULL,
    call_id              TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    message              TEXT NOT NULL DEFAULT '',
    at_ms                BIGINT NOT NULL
);
CREATE INDEX supervisor_actions_at ON supervisor_actions (at_ms);
