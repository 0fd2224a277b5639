-- Agents, numbers, trunks, sessions, calls and what calls write (SQLite).

CREATE TABLE agents (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    system_prompt       TEXT NOT NULL,
    objective_templates TEXT NOT NULL DEFAULT '{}',
    tools               TEXT NOT NULL,
    greeting            TEXT,
    max_duration_s      INTEGER NOT NULL,
    voice_profile       TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE INDEX agents_by_workspace ON agents(workspace_id, created_at DESC, id DESC);

CREATE TABLE trunks (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    inbound_sources   TEXT NOT NULL DEFAULT '[]',
    outbound          TEXT,
    username          TEXT,
    password          TEXT,
    caller_id         TEXT,
    max_concurrent    INTEGER NOT NULL,
    calls_per_second  INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE INDEX trunks_by_workspace ON trunks(workspace_id, created_at DESC, id DESC);

-- A number routes to one workspace: unique across all of them.
CREATE TABLE numbers (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    number        TEXT NOT NULL UNIQUE,
    agent_id      TEXT NOT NULL REFERENCES agents(id),
    objective     TEXT NOT NULL,
    calendar_id   TEXT REFERENCES calendars(id),
    created_at    INTEGER NOT NULL
);
CREATE INDEX numbers_by_workspace ON numbers(workspace_id, created_at DESC, id DESC);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    direction     TEXT NOT NULL,
    lead_id       TEXT REFERENCES leads(id),
    agent_id      TEXT NOT NULL REFERENCES agents(id),
    objective     TEXT NOT NULL,
    calendar_id   TEXT REFERENCES calendars(id),
    call_id       TEXT,
    expires_at    INTEGER,
    used_at       INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE calls (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    direction       TEXT NOT NULL,
    status          TEXT NOT NULL,
    outcome         TEXT,
    sip_outcome     TEXT,
    final_status    INTEGER,
    hangup_cause    TEXT,
    hung_up_by      TEXT,
    from_uri        TEXT NOT NULL,
    to_uri          TEXT NOT NULL,
    agent_id        TEXT,
    lead_id         TEXT,
    batch_id        TEXT,
    session_id      TEXT,
    number_id       TEXT,
    objective       TEXT NOT NULL DEFAULT '',
    agent_config    TEXT NOT NULL DEFAULT '{}',
    codec           TEXT,
    created_at      INTEGER NOT NULL,
    answered_at     INTEGER,
    ended_at        INTEGER,
    duration_ms     INTEGER,
    summary         TEXT,
    verdict         TEXT,
    qualified       INTEGER,
    latency         TEXT,
    usage           TEXT,
    recording_path  TEXT,
    recording_state TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX calls_by_workspace ON calls(workspace_id, created_at DESC, id DESC);
CREATE INDEX calls_by_lead ON calls(lead_id);
CREATE INDEX calls_by_batch ON calls(batch_id);

CREATE TABLE call_segments (
    call_id   TEXT NOT NULL,
    item_id   TEXT NOT NULL,
    speaker   TEXT NOT NULL,
    text      TEXT NOT NULL,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL,
    PRIMARY KEY (call_id, item_id, speaker)
);

CREATE TABLE call_tools (
    call_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    arguments  TEXT NOT NULL,
    output     TEXT NOT NULL,
    failed     INTEGER NOT NULL,
    PRIMARY KEY (call_id, seq)
);

CREATE TABLE call_cursors (
    call_id  TEXT NOT NULL,
    reader   TEXT NOT NULL,
    cursor   INTEGER NOT NULL,
    PRIMARY KEY (call_id, reader)
);

-- Every verdict a call wrote to a lead, once per call.
CREATE TABLE lead_qualifications (
    lead_id     TEXT NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL,
    qualified   INTEGER NOT NULL,
    score       INTEGER NOT NULL,
    verdict     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (lead_id, call_id)
);
