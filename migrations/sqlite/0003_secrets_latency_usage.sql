-- Server secrets shared by every node on this database (the key that signs
-- recording URLs), created on first use.
CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Latency samples of each call (greeting, end_of_turn, barge_in_stop), keyed
-- by the call's event-log sequence so a replayed reader writes nothing twice.
CREATE TABLE call_latencies (
    call_id  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    ms       INTEGER NOT NULL,
    PRIMARY KEY (call_id, seq)
);

-- What each call used so far (tokens, audio each way), as JSON.
CREATE TABLE call_usage (
    call_id  TEXT PRIMARY KEY,
    usage    TEXT NOT NULL
);
