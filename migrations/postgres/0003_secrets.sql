-- Server secrets shared by every node on this database (the key that signs
-- recording URLs), created on first use.
CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
