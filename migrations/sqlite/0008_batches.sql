-- Outbound campaigns: a batch of leads dialed by the durable dialer.
-- `batch_items` is the queue: one row per lead, claimed by a dialer node
-- (state 'dialing', with a lease it renews while the call lives) and settled
-- in the transaction that completes the call. `next_dial_at` spaces dials per
-- batch and per trunk (calls per second) across every node. A trunk in use by
-- a batch still running cannot be deleted (checked by the store); a finished
-- batch keeps the id of a trunk deleted since.
CREATE TABLE batches (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    idempotency_key   TEXT,
    status            TEXT NOT NULL,
    agent_id          TEXT NOT NULL REFERENCES agents(id),
    objective         TEXT NOT NULL,
    calendar_id       TEXT REFERENCES calendars(id),
    trunk_id          TEXT NOT NULL,
    caller_id         TEXT,
    concurrency       INTEGER NOT NULL,
    dial_interval_ms  INTEGER NOT NULL,
    ring_timeout_s    INTEGER NOT NULL,
    retry             TEXT NOT NULL,
    call_window       TEXT,
    request           TEXT NOT NULL,
    rejected          TEXT NOT NULL DEFAULT '[]',
    next_dial_at      INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX batches_by_workspace ON batches(workspace_id, created_at DESC, id DESC);
CREATE INDEX batches_active ON batches(status, next_dial_at);

CREATE TABLE batch_items (
    batch_id     TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    lead_id      TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    phone        TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    waiting      TEXT,
    call_id      TEXT,
    node_id      TEXT,
    lease_until  INTEGER,
    outcome      TEXT,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (batch_id, lead_id)
);
CREATE INDEX batch_items_due ON batch_items(batch_id, state, next_at);
CREATE INDEX batch_items_by_call ON batch_items(call_id);
CREATE INDEX batch_items_leases ON batch_items(state, lease_until);

ALTER TABLE trunks ADD COLUMN next_dial_at INTEGER NOT NULL DEFAULT 0;
