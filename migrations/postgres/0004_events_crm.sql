-- Call events: what SSE monitors replay and webhooks deliver. `seq` counts per
-- workspace (workspaces.event_seq, bumped in the transaction that appends, so
-- on Postgres appends of one workspace commit in seq order and a reader that
-- has seen seq N has seen everything before it). `source` makes an append
-- idempotent per call (a replayed reader or a retried write adds nothing).
ALTER TABLE workspaces ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE call_events (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    call_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    data          TEXT NOT NULL,
    source        TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
CREATE INDEX call_events_by_call ON call_events(call_id, seq);
CREATE UNIQUE INDEX call_events_by_source ON call_events(call_id, source);

-- The agent's run of a call is over (verdict and summary written); with the
-- SIP leg's end this completes the call (agent.run.completed, CRM write-back).
ALTER TABLE calls ADD COLUMN run_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN completed_at BIGINT;

-- The CRM record's latest verdict, and every call attempt on the lead.
ALTER TABLE leads ADD COLUMN latest_verdict TEXT;
ALTER TABLE leads ADD COLUMN last_call_at BIGINT;

CREATE TABLE lead_attempts (
    lead_id         TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    call_id         TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    qualified       BIGINT,
    score           BIGINT,
    meeting_booked  BIGINT NOT NULL,
    summary         TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (lead_id, call_id)
);
