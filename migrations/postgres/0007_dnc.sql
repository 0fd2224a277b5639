-- The workspace's do-not-call list: numbers never dialed (checked when a call
-- is placed).
CREATE TABLE dnc (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    phone         TEXT NOT NULL,
    reason        TEXT,
    created_at    BIGINT NOT NULL,
    UNIQUE (workspace_id, phone)
);
CREATE INDEX dnc_by_workspace ON dnc(workspace_id, created_at DESC, id DESC);
