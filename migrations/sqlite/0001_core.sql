-- Workspaces, API keys, leads, knowledge, calendars and bookings (SQLite).
-- Times are Unix milliseconds; JSON is stored as text.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    hash          TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
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
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX leads_by_workspace ON leads(workspace_id, created_at DESC, id DESC);

-- `seq` is the FTS rowid: an explicit INTEGER PRIMARY KEY, so VACUUM never renumbers it.
CREATE TABLE knowledge_documents (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX knowledge_by_workspace ON knowledge_documents(workspace_id, created_at DESC);

CREATE VIRTUAL TABLE knowledge_fts USING fts5(
    title, body,
    content = 'knowledge_documents', content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge_documents BEGIN
    INSERT INTO knowledge_fts(rowid, title, body) VALUES (new.seq, new.title, new.body);
END;
CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge_documents BEGIN
    INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body)
        VALUES ('delete', old.seq, old.title, old.body);
END;
CREATE TRIGGER knowledge_fts_update AFTER UPDATE ON knowledge_documents BEGIN
    INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body)
        VALUES ('delete', old.seq, old.title, old.body);
    INSERT INTO knowledge_fts(rowid, title, body) VALUES (new.seq, new.title, new.body);
END;

CREATE TABLE calendars (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    timezone       TEXT NOT NULL,
    working_hours  TEXT NOT NULL,
    slot_minutes   INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE bookings (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    calendar_id   TEXT NOT NULL REFERENCES calendars(id) ON DELETE CASCADE,
    lead_id       TEXT,
    call_id       TEXT,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    notes         TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'confirmed',
    created_at    INTEGER NOT NULL
);
CREATE INDEX bookings_by_calendar ON bookings(calendar_id, start_ms);
