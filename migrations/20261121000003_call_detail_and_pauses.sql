-- Call records carry the whole call: the AMI Linkedid, why it ended, who
-- answered last, hold and talk time, and the transfer chain (JSON arrays).
-- end_reason 'open' marks a call still up when switchboard stopped; it is
-- completed when the call is later seen ending.
ALTER TABLE call_records ADD COLUMN linkedid TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN answered_by TEXT NOT NULL DEFAULT '';
ALTER TABLE call_records ADD COLUMN hold_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE call_records ADD COLUMN talk_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE call_records ADD COLUMN transfers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE call_records ADD COLUMN merged_call_ids TEXT NOT NULL DEFAULT '[]';

-- One row per pause of an agent in a queue, closed when the agent resumes or logs out.
CREATE TABLE agent_pauses (
    id              TEXT PRIMARY KEY,
    extension       TEXT NOT NULL,
    queue           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    paused_at_ms    BIGINT NOT NULL,
    resumed_at_ms   BIGINT
);
CREATE INDEX agent_pauses_extension ON agent_pauses (extension);
