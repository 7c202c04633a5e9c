-- The agent directory as admins changed it at run time (AgentService.PutAgent).
-- At start these entries are laid over the configured ones, by extension.
CREATE TABLE agent_directory (
    extension     TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    max_calls     BIGINT NOT NULL,
    endpoint      TEXT NOT NULL DEFAULT '',
    updated_at_ms BIGINT NOT NULL
);
