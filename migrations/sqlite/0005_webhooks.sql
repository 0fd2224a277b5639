-- Webhook subscriptions. `cursor` is the last workspace event (call_events.seq)
-- turned into deliveries for this subscription; a new subscription starts at
-- the workspace's current event_seq (it gets what happens from then on).
CREATE TABLE webhooks (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    url                 TEXT NOT NULL,
    event_types         TEXT NOT NULL,
    secret              TEXT NOT NULL,
    old_secret          TEXT,
    old_secret_until    INTEGER,
    enabled             INTEGER NOT NULL DEFAULT 1,
    disabled_reason     TEXT,
    cursor              INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX webhooks_by_workspace ON webhooks(workspace_id, created_at DESC, id DESC);

-- One message per (subscription, event): its id is the webhook-id every
-- attempt (and a replay) carries. Delivered in event order per subscription;
-- `lease_until` keeps two nodes (or a restarted one) from sending the same
-- attempt twice at once.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    workspace_id     TEXT NOT NULL,
    event_seq        INTEGER NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries(webhook_id, status, event_seq);
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries(webhook_id, created_at DESC, id DESC);
