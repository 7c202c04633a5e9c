-- The transfers to human agents still in progress, by their agent leg's
-- Twilio Call SID: whichever node takes the leg's status callbacks follows
-- the transfer, and a transfer started before a restart is followed after it.
CREATE TABLE transfers_in_progress (
    agent_leg_sid TEXT PRIMARY KEY,
    transfer_id   TEXT NOT NULL,
    extension     TEXT NOT NULL,
    call_id       TEXT NOT NULL,
    conference    TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL
);
