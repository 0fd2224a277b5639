-- Workspaces, API keys, leads, knowledge, calendars and bookings (Postgres).
-- Times are Unix milliseconds; JSON is stored as text, like on SQLite.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    hash          TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE leads (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL,
    email         TEXT,
    company       TEXT,
    timezone      TEXT,
    custom        TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'new',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX leads_by_workspace ON leads(workspace_id, created_at DESC, id DESC);

CREATE TABLE knowledge_documents (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    tsv           tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
    ) STORED
);
CREATE INDEX knowledge_by_workspace ON knowledge_documents(workspace_id, created_at DESC);
CREATE INDEX knowledge_tsv ON knowledge_documents USING gin(tsv);

CREATE TABLE calendars (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    timezone       TEXT NOT NULL,
    working_hours  TEXT NOT NULL,
    slot_minutes   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE bookings (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    calendar_id   TEXT NOT NULL REFERENCES calendars(id) ON DELETE CASCADE,
    lead_id       TEXT,
    call_id       TEXT,
    start_ms      BIGINT NOT NULL,
    end_ms        BIGINT NOT NULL,
    notes         TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'confirmed',
    created_at    BIGINT NOT NULL
);
CREATE INDEX bookings_by_calendar ON bookings(calendar_id, start_ms);
